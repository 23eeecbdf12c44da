package call

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-fleet/orch/fleet"
)

// script is a Caller whose nodes answer as answer says; it records every
// round.
type script struct {
	answer func(node string, round int) (fleet.Status, bool) // status ("" = silent), changed
	err    error
	onCall func(round int)

	mu     sync.Mutex
	rounds [][]string
	calls  map[string]int
}

func (s *script) Call(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	s.mu.Lock()
	s.rounds = append(s.rounds, slices.Clone(r.Targets))
	round := len(s.rounds)
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.mu.Unlock()
	if s.onCall != nil {
		s.onCall(round)
	}
	if s.err != nil {
		return nil, s.err
	}
	res := &fleet.CallResult{}
	for _, n := range r.Targets {
		s.mu.Lock()
		s.calls[n]++
		s.mu.Unlock()
		st, changed := s.answer(n, round)
		if st == "" {
			res.Missing = append(res.Missing, n)
			continue
		}
		rep := &fleet.Reply{Identity: n, Status: st, Changed: changed, Message: string(st)}
		if r.OnReply != nil {
			r.OnReply(rep)
		}
		res.Replies = append(res.Replies, rep)
		if r.Accept != nil && len(r.Targets) == 1 {
			_ = r.Accept(rep)
		}
	}
	return res, nil
}

func (s *script) CallAnyOne(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	out := &fleet.CallResult{}
	for _, n := range r.Targets {
		one := r
		one.Targets = []string{n}
		res, err := s.Call(ctx, one)
		if err != nil {
			return nil, err
		}
		out.Replies = append(out.Replies, res.Replies...)
		out.Missing = append(out.Missing, res.Missing...)
		if len(res.Replies) == 1 && res.Replies[0].OK() && (r.Accept == nil || r.Accept(res.Replies[0])) {
			break
		}
	}
	return out, nil
}

func ids(nrs []*NodeResult, keep func(*NodeResult) bool) string {
	var out []string
	for _, nr := range nrs {
		if keep(nr) {
			out = append(out, nr.Identity)
		}
	}
	return strings.Join(out, ",")
}

func okStatus(string, int) (fleet.Status, bool) { return fleet.StatusOK, true }

func TestBatches(t *testing.T) {
	tests := map[string]struct {
		size    int
		targets []string
		want    string
	}{
		"all at once":   {0, []string{"a", "b", "c"}, "[[a b c]]"},
		"two at a time": {2, []string{"a", "b", "c"}, "[[a b] [c]]"},
		"larger":        {9, []string{"a", "b"}, "[[a b]]"},
		"duplicates":    {1, []string{"a", "a", "b"}, "[[a] [b]]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := &script{answer: okStatus}
			res := Do(context.Background(), s, Spec{Agent: "x", Action: "y", Targets: tc.targets, BatchSize: tc.size})
			if got := fmt.Sprint(res.Batches); got != tc.want {
				t.Errorf("batches %s, want %s", got, tc.want)
			}
			if got := fmt.Sprint(s.rounds); got != tc.want {
				t.Errorf("rounds called %s, want %s", got, tc.want)
			}
			if !res.Succeeded(false) || res.Attempts != 1 {
				t.Errorf("succeeded %v after %d attempts", res.Succeeded(false), res.Attempts)
			}
		})
	}
}

// A graceful stop lets the batch in flight finish and starts no other;
// the nodes of later batches are named as not started.
func TestStopBetweenBatches(t *testing.T) {
	stop := make(chan struct{})
	s := &script{answer: okStatus, onCall: func(round int) {
		if round == 1 {
			close(stop)
		}
	}}
	res := Do(context.Background(), s, Spec{Agent: "x", Action: "y", Targets: []string{"a", "b", "c", "d", "e"}, BatchSize: 2, Stop: stop})
	if got := fmt.Sprint(res.Batches); got != "[[a b]]" {
		t.Errorf("batches %s, want only the first", got)
	}
	if got := strings.Join(res.NotStarted, ","); got != "c,d,e" {
		t.Errorf("not started %q, want c,d,e", got)
	}
	if !res.Stopped || res.Succeeded(false) {
		t.Errorf("stopped %v succeeded %v", res.Stopped, res.Succeeded(false))
	}
	if got := ids(res.Nodes, func(*NodeResult) bool { return true }); got != "a,b" {
		t.Errorf("results for %q, want a,b", got)
	}
}

func TestRetryOnlyFailing(t *testing.T) {
	// b fails twice, c never answers the first time.
	s := &script{answer: func(n string, round int) (fleet.Status, bool) {
		switch {
		case n == "b" && round <= 2:
			return fleet.StatusAborted, false
		case n == "c" && round == 1:
			return "", false
		}
		return fleet.StatusOK, false
	}}
	var retries []string
	res := Do(context.Background(), s, Spec{Agent: "x", Action: "y", Targets: []string{"a", "b", "c"},
		Retry: fleet.Retry{Attempts: 5, Interval: time.Millisecond},
		OnRetry: func(attempt int, failing []string, _ time.Duration) {
			retries = append(retries, fmt.Sprintf("%d:%s", attempt, strings.Join(failing, ",")))
		}})
	if got := fmt.Sprint(s.rounds); got != "[[a b c] [b c] [b]]" {
		t.Errorf("rounds %s", got)
	}
	if got := strings.Join(retries, " "); got != "2:b,c 3:b" {
		t.Errorf("retries %q", got)
	}
	if !res.Succeeded(false) || res.Attempts != 3 {
		t.Errorf("succeeded %v attempts %d", res.Succeeded(false), res.Attempts)
	}
	for _, nr := range res.Nodes {
		want := map[string]int{"a": 1, "b": 3, "c": 2}[nr.Identity]
		if nr.Attempt != want {
			t.Errorf("%s: final result from attempt %d, want %d", nr.Identity, nr.Attempt, want)
		}
	}
}

func TestRetryLimits(t *testing.T) {
	failing := func(string, int) (fleet.Status, bool) { return fleet.StatusAborted, false }
	tests := map[string]struct {
		retry fleet.Retry
		want  int // attempts
	}{
		"no retry":    {fleet.Retry{}, 1},
		"attempts":    {fleet.Retry{Attempts: 3, Interval: time.Millisecond}, 3},
		"one attempt": {fleet.Retry{Attempts: 1, Interval: time.Millisecond}, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := &script{answer: failing}
			res := Do(context.Background(), s, Spec{Agent: "x", Action: "y", Targets: []string{"a"}, Retry: tc.retry})
			if res.Attempts != tc.want {
				t.Errorf("attempts %d, want %d", res.Attempts, tc.want)
			}
		})
	}
}

// nextWait (the last attempt at the deadline is tested here, on the
// arithmetic, not on the clock): the interval while it fits, then what is left until the
// deadline (one last attempt there), then nothing.
func TestNextWait(t *testing.T) {
	x := newExecutor(nil, Spec{Retry: fleet.Retry{Timeout: 100 * time.Second, Interval: 30 * time.Second}})
	tests := []struct {
		elapsed time.Duration
		want    time.Duration
		ok      bool
	}{
		{0, 30 * time.Second, true},
		{70 * time.Second, 30 * time.Second, true},
		{80 * time.Second, 20 * time.Second, true},
		{100 * time.Second, 0, false},
	}
	for _, tc := range tests {
		got, ok := x.nextWait(1, tc.elapsed)
		if got != tc.want || ok != tc.ok {
			t.Errorf("after %s: wait %s %v, want %s %v", tc.elapsed, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAnyOneFailsOverAndJudgesOnce(t *testing.T) {
	s := &script{answer: okStatus}
	var mu sync.Mutex
	judged := map[string]int{}
	reported := map[string]int{}
	res := Do(context.Background(), s, Spec{Agent: "x", Action: "y", Targets: []string{"a", "b", "c"}, AnyOne: true,
		Judge: func(rep *fleet.Reply) error {
			mu.Lock()
			defer mu.Unlock()
			judged[rep.Identity]++
			if rep.Identity != "c" {
				return errors.New("not c")
			}
			return nil
		},
		OnResult: func(nr *NodeResult) { reported[nr.Identity]++ }})
	if !res.Succeeded(true) || ids(res.Nodes, func(nr *NodeResult) bool { return nr.OK }) != "c" {
		t.Fatalf("any-one did not end on c: %+v", res.Nodes)
	}
	for id, n := range judged {
		if n != 1 {
			t.Errorf("%s judged %d times, want once", id, n)
		}
		if reported[id] != 1 {
			t.Errorf("%s reported %d times, want once", id, reported[id])
		}
	}
	for _, nr := range res.Nodes {
		if !nr.OK && nr.Err != "not c" {
			t.Errorf("%s: err %q, want the judge's", nr.Identity, nr.Err)
		}
	}
}

func TestCallErrorFailsNodesWithItsStatus(t *testing.T) {
	s := &script{err: fleet.Errorf(fleet.StatusUnknownAction, "agent x has no action %q", "y")}
	res := Do(context.Background(), s, Spec{Agent: "x", Action: "y", Targets: []string{"a", "b"}})
	if res.Err == nil || res.Succeeded(false) {
		t.Fatalf("err %v succeeded %v", res.Err, res.Succeeded(false))
	}
	for _, nr := range res.Nodes {
		if nr.Status != fleet.StatusUnknownAction || nr.OK || !strings.Contains(nr.Err, "no action") {
			t.Errorf("%+v", nr)
		}
	}
}
