// Package call is orch's one call executor: it calls an agent action on a
// set of nodes the way both the engine (a playbook resource) and the Go SDK
// (orch.Fleet.Call) need it — in batches with a graceful stop between them,
// or on any one node with failover, retrying only the nodes still failing,
// and judging each reply exactly once.
//
//	res := call.Do(ctx, client, call.Spec{Agent: "nrpe", Action: "run",
//		Input: map[string]any{"command": "check_load"}, Targets: web,
//		Retry: call.Retry{Timeout: 100 * time.Second, Interval: 5 * time.Second}})
//	for _, nr := range res.Nodes { ... }
//
// Policy stays with the caller: what a reply must satisfy (Spec.Judge),
// when to stop (ctx for an abort, Spec.Stop for a graceful stop) and what
// the outcome means.
package call

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/orch-fleet/orch/fleet"
)

// Caller makes one round of requests; *rpc.Client satisfies it.
type Caller interface {
	// Call sends the request to every target at once and collects replies.
	Call(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error)
	// CallAnyOne tries the targets in order until one is accepted.
	CallAnyOne(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error)
}

// Defaults of a Spec's zero values.
const (
	DefaultTimeout  = 60 * time.Second
	DefaultInterval = 5 * time.Second
)

// Spec is one action to call on a set of nodes.
type Spec struct {
	Agent  string
	Action string
	Input  map[string]any
	// Targets are the identities to call, in order (duplicates ignored).
	Targets []string
	// Timeout bounds the wait for each batch's replies (each node's, for
	// AnyOne); 0 = DefaultTimeout.
	Timeout    time.Duration
	BatchSize  int           // nodes called at once; 0 = all
	BatchSleep time.Duration // pause between batches
	// AnyOne calls one node, starting from a random one so that nodes share
	// the work, failing over through the others in turn.
	AnyOne bool
	Retry  fleet.Retry
	NoOp   bool // ask what would change, changing nothing
	// Judge decides whether an ok reply succeeded (nil: every ok reply
	// does); a non-nil error fails the node with its text. It is called
	// once per reply.
	Judge func(*fleet.Reply) error
	// Stop, when closed, stops gracefully: no new batch or attempt starts,
	// while calls in flight finish. Cancelling ctx aborts them instead.
	Stop <-chan struct{}
	// OnResult, when set, is told every node's result of every attempt as
	// it arrives (serialised).
	OnResult func(*NodeResult)
	// OnRetry, when set, is told before each retry: the attempt about to
	// start, the nodes it retries and the pause before it.
	OnRetry func(attempt int, failing []string, wait time.Duration)
}

// NodeResult is one node's result of one attempt.
type NodeResult struct {
	Identity string
	// Reply is the node's reply; nil when it did not answer or the request
	// could not be sent.
	Reply *fleet.Reply
	// Status is the reply's status, or the status of the error that kept
	// the request from being made; "" when the node did not answer.
	Status   fleet.Status
	OK       bool   // answered ok and passed Judge
	Err      string // why not OK: the judge's error, the reply's message or status
	NoAnswer bool   // called, but no reply came in time
	// Gone, with NoAnswer, says the node is known not to be listening
	// (fleet.CallResult.Absent): Err then says why, e.g. that its agent
	// went away during the call.
	Gone    bool
	Attempt int // the attempt this result is from (1-based)
}

// Result is the outcome of a call.
type Result struct {
	// Nodes are the final results of the nodes called, sorted by identity
	// (the last attempt of each). An AnyOne call lists only the nodes it
	// tried; a stopped call lists neither the nodes it never started.
	Nodes []*NodeResult
	// Batches are the batches of the first attempt, as started.
	Batches [][]string
	// NotStarted are targets never called because the call was stopped
	// or the broker was lost.
	NotStarted []string
	Attempts   int
	// Err is the first error that kept requests from being made (bad
	// input) or their replies from coming (the broker was lost: it wraps
	// fleet.ErrBrokerLost, and no batch or retry starts after it); those
	// nodes are failed with its text.
	Err error
	// Stopped: ctx was done or Stop closed before the call finished.
	Stopped bool
	Elapsed time.Duration
	// DroppedReplies counts the replies dropped unjudged over all
	// attempts: forged, unsigned, badly signed or mis-attributed
	// (fleet.CallResult.DroppedReplies).
	DroppedReplies int
}

// Succeeded reports whether the call succeeded: every target did (AnyOne:
// one did) and nothing was left unstarted.
func (r *Result) Succeeded(anyOne bool) bool {
	ok, failed := 0, 0
	for _, nr := range r.Nodes {
		if nr.OK {
			ok++
		} else {
			failed++
		}
	}
	if anyOne {
		return ok > 0
	}
	return failed == 0 && len(r.NotStarted) == 0 && ok > 0
}

// Do runs the call to completion: every attempt, every batch.
func Do(ctx context.Context, c Caller, s Spec) *Result {
	x := newExecutor(c, s)
	return x.run(ctx)
}

// executor holds one call's state.
type executor struct {
	c       Caller
	s       Spec
	targets []string

	mu     sync.Mutex // guards judged and OnResult calls
	judged map[*fleet.Reply]*NodeResult
	// dropped counts the replies the client dropped unjudged (collect
	// runs on the call's goroutine only).
	dropped int
}

func newExecutor(c Caller, s Spec) *executor {
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Retry.Interval <= 0 {
		s.Retry.Interval = DefaultInterval
	}
	return &executor{c: c, s: s, targets: uniq(s.Targets), judged: map[*fleet.Reply]*NodeResult{}}
}

func (x *executor) run(ctx context.Context) *Result {
	start := time.Now()
	res := &Result{}
	final := map[string]*NodeResult{}
	remaining := x.targets
	for attempt := 1; len(remaining) > 0; attempt++ {
		res.Attempts = attempt
		results, batches, notStarted, err := x.attempt(ctx, remaining, attempt)
		if attempt == 1 {
			res.Batches, res.NotStarted = batches, notStarted
		}
		if res.Err == nil {
			res.Err = err
		}
		for _, nr := range results {
			final[nr.Identity] = nr
		}
		failing := x.failing(results, remaining)
		if len(failing) == 0 || len(notStarted) > 0 || errors.Is(err, fleet.ErrBrokerLost) {
			break
		}
		wait, ok := x.nextWait(attempt, time.Since(start))
		if !ok || x.stopped(ctx) {
			break
		}
		if x.s.OnRetry != nil {
			x.s.OnRetry(attempt+1, failing, wait)
		}
		if !x.sleep(ctx, wait) {
			break
		}
		remaining = failing
	}
	res.Stopped = x.stopped(ctx)
	res.Nodes = sorted(final)
	res.Elapsed = time.Since(start)
	res.DroppedReplies = x.dropped
	return res
}

// failing returns the nodes of an attempt to retry: those that failed, or
// for AnyOne, all of them again unless one succeeded.
func (x *executor) failing(results []*NodeResult, called []string) []string {
	var failing []string
	anyOK := false
	for _, nr := range results {
		if nr.OK {
			anyOK = true
		} else {
			failing = append(failing, nr.Identity)
		}
	}
	if x.s.AnyOne {
		if anyOK {
			return nil
		}
		return called
	}
	sort.Strings(failing)
	return failing
}

// nextWait says whether another attempt is due after attempt, and after
// what pause: the interval, or what is left until the retry deadline when
// the interval would overshoot it (one last attempt at the deadline).
func (x *executor) nextWait(attempt int, elapsed time.Duration) (time.Duration, bool) {
	r := x.s.Retry
	switch {
	case !r.Enabled():
		return 0, false
	case r.Attempts > 0 && attempt >= r.Attempts:
		return 0, false
	case r.Timeout <= 0 || elapsed+r.Interval <= r.Timeout:
		return r.Interval, true
	case elapsed < r.Timeout:
		return r.Timeout - elapsed, true
	}
	return 0, false
}

// attempt calls nodes once: in batches, or any one of them.
func (x *executor) attempt(ctx context.Context, nodes []string, attempt int) (results []*NodeResult, batches [][]string, notStarted []string, err error) {
	req := fleet.CallRequest{Agent: x.s.Agent, Action: x.s.Action, Input: x.s.Input, Timeout: x.s.Timeout, NoOp: x.s.NoOp,
		OnReply: func(rep *fleet.Reply) { x.report(x.judge(rep, attempt)) },
		Accept:  func(rep *fleet.Reply) bool { return x.judge(rep, attempt).OK }}
	if x.s.AnyOne {
		req.Targets = rotate(nodes)
		cr, err := x.c.CallAnyOne(ctx, req)
		return x.collect(req.Targets, attempt, cr, err), nil, nil, err
	}
	size := x.s.BatchSize
	if size <= 0 || size > len(nodes) {
		size = len(nodes)
	}
	for i := 0; i < len(nodes); i += size {
		if i > 0 && (!x.sleep(ctx, x.s.BatchSleep) || x.stopped(ctx)) {
			return results, batches, nodes[i:], err
		}
		req.Targets = nodes[i:min(i+size, len(nodes))]
		batches = append(batches, req.Targets)
		cr, cerr := x.c.Call(ctx, req)
		if err == nil {
			err = cerr
		}
		results = append(results, x.collect(req.Targets, attempt, cr, cerr)...)
		if errors.Is(cerr, fleet.ErrBrokerLost) {
			// Nothing more can be sent: the later batches are named,
			// not called.
			return results, batches, nodes[min(i+size, len(nodes)):], err
		}
	}
	return results, batches, nil, err
}

// judge turns a reply into a node result, once per reply: the live report,
// any-one's failover and the final result share the verdict.
func (x *executor) judge(rep *fleet.Reply, attempt int) *NodeResult {
	x.mu.Lock()
	defer x.mu.Unlock()
	if nr, ok := x.judged[rep]; ok {
		return nr
	}
	nr := &NodeResult{Identity: rep.Identity, Reply: rep, Status: rep.Status, OK: rep.OK(), Attempt: attempt}
	if !nr.OK {
		nr.Err = rep.Message
	} else if x.s.Judge != nil {
		if err := x.s.Judge(rep); err != nil {
			nr.OK, nr.Err = false, err.Error()
		}
	}
	if !nr.OK && nr.Err == "" {
		nr.Err = string(rep.Status)
	}
	x.judged[rep] = nr
	return nr
}

func (x *executor) report(nr *NodeResult) {
	if x.s.OnResult == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.s.OnResult(nr)
}

// collect turns one round's result (or error) into node results. With a
// lost broker the round has both: the replies received, and the others
// failed with the error.
func (x *executor) collect(nodes []string, attempt int, cr *fleet.CallResult, err error) []*NodeResult {
	if err != nil && cr == nil {
		return x.failAll(nodes, attempt, err)
	}
	x.dropped += cr.DroppedReplies
	var out []*NodeResult
	for _, rep := range cr.Replies {
		out = append(out, x.judge(rep, attempt))
	}
	if err != nil {
		return append(out, x.failAll(cr.Missing, attempt, err)...)
	}
	for _, m := range cr.Missing {
		nr := &NodeResult{Identity: m, NoAnswer: true, Err: "no answer", Attempt: attempt}
		if why, ok := cr.Absent[m]; ok {
			nr.Gone, nr.Err = true, why
		}
		x.report(nr)
		out = append(out, nr)
	}
	return out
}

// failAll fails nodes with err: its status when it carries one; a lost
// broker leaves them unanswered (whether they acted is unknown).
func (x *executor) failAll(nodes []string, attempt int, err error) []*NodeResult {
	status := fleet.StatusInternalError
	var se *fleet.StatusError
	if errors.As(err, &se) {
		status = se.Status
	}
	lost := errors.Is(err, fleet.ErrBrokerLost)
	if lost {
		status = ""
	}
	out := make([]*NodeResult, 0, len(nodes))
	for _, n := range nodes {
		nr := &NodeResult{Identity: n, Status: status, Err: err.Error(), NoAnswer: lost, Attempt: attempt}
		x.report(nr)
		out = append(out, nr)
	}
	return out
}

// stopped reports whether the call was aborted or stopped gracefully.
func (x *executor) stopped(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-x.s.Stop:
		return true
	default:
		return false
	}
}

// sleep pauses for d; false when interrupted (abort or graceful stop).
func (x *executor) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-x.s.Stop:
	}
	return false
}

// rotate starts the list at a random node, keeping the order after it.
func rotate(nodes []string) []string {
	if len(nodes) < 2 {
		return nodes
	}
	k := rand.IntN(len(nodes))
	return append(append([]string{}, nodes[k:]...), nodes[:k]...)
}

func uniq(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func sorted(m map[string]*NodeResult) []*NodeResult {
	out := make([]*NodeResult, 0, len(m))
	for _, nr := range m {
		out = append(out, nr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}
