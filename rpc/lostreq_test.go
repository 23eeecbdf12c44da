package rpc_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// TestLostMessages: a request or reply lost on the way (as with a broker
// that dies carrying it) is found by the liveness probes, which ask the
// node about the request id: a request the node never received is sent
// again once (then answered, or failed fast when lost again), a reply
// lost after the node answered fails fast; none waits for the one-minute
// timeout.
func TestLostMessages(t *testing.T) {
	live := rpc.Liveness{ProbeInterval: 100 * time.Millisecond}
	cases := map[string]struct {
		lose    func(n int64, m *nats.Msg) bool // whether to lose the n-th request (1-based), after changing m
		sends   int64                           // requests the client must have sent
		wantMsg string                          // Absent's text; "" = answered ok
	}{
		"request lost once: sent again and answered": {lose: func(n int64, _ *nats.Msg) bool { return n == 1 }, sends: 2},
		"request lost twice: failed fast": {lose: func(int64, *nats.Msg) bool { return true }, sends: 2,
			wantMsg: "the request never reached the node (lost with the broker connection)"},
		"reply lost: failed fast": {lose: func(_ int64, m *nats.Msg) bool {
			m.Reply += "x" // still on the client's inbox, but no target's subject: never collected
			return false
		}, sends: 1, wantMsg: "the node answered, but the reply was lost (broker connection lost); check the node's state (re-run is safe: actions are idempotent)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := natstest.Start(t)
			started := make(chan string, 4)
			startSlowNode(t, s.ClientURL(), "e1", started)
			c := slowClient(t, s.ClientURL(), rpc.ClientOptions{Liveness: live})
			var sends atomic.Int64
			rpc.SetRequestPublisher(c, func(m *nats.Msg) error {
				if tc.lose(sends.Add(1), m) {
					return nil
				}
				return c.Conn().PublishMsg(m)
			})
			start := time.Now()
			res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "slow", Action: "wait",
				Input: map[string]any{"ms": 10}, Targets: []string{"e1"}, Timeout: time.Minute})
			took := time.Since(start)
			t.Logf("ended after %s", took.Round(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if took > 5*time.Second {
				t.Errorf("took %s, want well under the timeout", took)
			}
			if got := sends.Load(); got != tc.sends {
				t.Errorf("sent the request %d times, want %d", got, tc.sends)
			}
			if tc.wantMsg == "" {
				if len(res.Replies) != 1 || !res.Replies[0].OK() {
					t.Fatalf("want an ok reply, got %+v missing %v absent %v", res.Replies, res.Missing, res.Absent)
				}
				return
			}
			if len(res.Missing) != 1 || res.Absent["e1"] != tc.wantMsg {
				t.Fatalf("missing %v absent %q, want %q", res.Missing, res.Absent, tc.wantMsg)
			}
		})
	}
}

// TestProbeStates: a probe naming a request id is answered with what the
// node knows of it: unknown before it arrives, running while it runs,
// done once answered; a probe without an id gets no state.
func TestProbeStates(t *testing.T) {
	s := natstest.Start(t)
	started := make(chan string, 1)
	startSlowNode(t, s.ClientURL(), "e1", started)
	c := slowClient(t, s.ClientURL(), rpc.ClientOptions{Liveness: rpc.Liveness{ProbeInterval: -1}})
	probe := func(id string) string {
		t.Helper()
		m := &nats.Msg{Subject: rpc.DirectSubject(rpc.DefaultCollective, "e1"), Header: nats.Header{rpc.ProbeHeader: []string{"1"}}}
		if id != "" {
			m.Header.Set(rpc.ProbeRequestHeader, id)
		}
		ans, err := c.Conn().RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ans.Header.Get(rpc.ProbeStateHeader)
	}
	if got := probe(rpc.NewRequestID()); got != rpc.ProbeUnknown {
		t.Fatalf("an id never sent: %q, want %q", got, rpc.ProbeUnknown)
	}
	if got := probe(""); got != "" {
		t.Fatalf("a probe without id: state %q, want none", got)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), fleet.CallRequest{Agent: "slow", Action: "wait", RequestID: "req-1",
			Input: map[string]any{"ms": 300}, Targets: []string{"e1"}, Timeout: time.Minute})
		done <- err
	}()
	if id := <-started; id != "req-1" {
		t.Fatalf("started %q", id)
	}
	if got := probe("req-1"); got != rpc.ProbeRunning {
		t.Fatalf("while running: %q, want %q", got, rpc.ProbeRunning)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return probe("req-1") == rpc.ProbeDone })
	if got := probe(strings.Repeat("a", 200)); got != "" {
		t.Fatalf("an overlong id: state %q, want none", got)
	}
}
