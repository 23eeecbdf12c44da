package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orch-fleet/orch/call"
	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/resources"
)

// prepared is a resource instance ready to call: its evaluated arguments,
// request and targets.
type prepared struct {
	r       *catalog.Resource
	t       *resources.Type
	args    map[string]any
	req     resources.Request
	targets []string
	batch   int // the rollout batch, 0 outside rollouts
}

// apply runs one resource instance to completion (for batch, 1-based, of
// its rollout; 0 outside rollouts).
func (w *walker) apply(ctx context.Context, r *catalog.Resource, batch int) *ResourceReport {
	rr := &ResourceReport{Addr: r.Addr, Type: r.Type, FailOK: r.FailOK, NoOp: r.NoOp, AnyOne: r.AnyOne, Started: w.o.Clock(), Batch: batch, Rollout: r.Rollout}
	p, err := w.prepare(ctx, r)
	if p != nil {
		rr.Agent, rr.Action = p.req.Agent, p.req.Action
	}
	if err != nil {
		w.noteBrokerLost(err)
		return w.end(rr, OutcomeFailed, err.Error())
	}
	rr.Targets, p.batch = p.targets, batch
	w.emit(Event{Type: EventResourceStart, Resource: r.Addr, Agent: p.req.Agent, Action: p.req.Action, Nodes: p.targets, AnyOne: r.AnyOne, BatchSize: r.BatchSize, NoOp: r.NoOp, Batch: batch})
	if len(p.targets) == 0 {
		return w.end(rr, OutcomeOK, "no target nodes")
	}
	res := call.Do(ctx, w.fleet, w.spec(p))
	w.noteBrokerLost(res.Err)
	tally(rr, p, res)
	return w.end(rr, rr.Outcome, rr.Reason)
}

// end closes rr with its outcome and reports it.
func (w *walker) end(rr *ResourceReport, o Outcome, reason string) *ResourceReport {
	rr.Outcome, rr.Reason = o, reason
	rr.Elapsed = w.o.Clock().Sub(rr.Started)
	w.emit(Event{Type: EventResourceEnd, Resource: rr.Addr, Outcome: rr.Outcome, Message: rr.Reason, Elapsed: rr.Elapsed, FailOK: rr.FailOK, NoOp: rr.NoOp,
		Changed: rr.Changed, Unchanged: rr.Unchanged, Failed: rr.Failed, NoAnswer: rr.NoAnswer, Attempt: rr.Attempts, Batch: rr.Batch})
	return rr
}

// prepare resolves what r needs and evaluates its request and targets. The
// result is non-nil once the request is known (for the report).
func (w *walker) prepare(ctx context.Context, r *catalog.Resource) (*prepared, error) {
	t, _ := w.reg.Lookup(r.Type)
	res, err := w.resolve(ctx, r)
	if err != nil {
		return nil, err
	}
	args, err := r.Late.Args(res)
	if err != nil {
		return nil, err
	}
	req, err := t.Request(args)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	p := &prepared{r: r, t: t, args: args, req: req}
	if r.HasTargets {
		if p.targets, err = r.Late.Targets(res); err != nil {
			return p, err
		}
		p.targets = uniq(p.targets)
		return p, nil
	}
	if p.targets, err = w.fleet.Discover(ctx, fleet.Filter{Agents: []string{req.Agent}}); err != nil {
		return p, fmt.Errorf("discovering the nodes serving %s: %w", req.Agent, err)
	}
	if len(p.targets) == 0 {
		// Without targets the resource means "every node serving the
		// agent"; none at all is a broken fleet, not a no-op.
		return p, fmt.Errorf("no node serves the %s agent: enable provider %q on the nodes that should run it, or give targets", req.Agent, req.Agent)
	}
	return p, nil
}

// spec is the call executor's job for p: the resource's own timeout wins,
// then the type's natural one, then the run's default; a plan never
// retries.
func (w *walker) spec(p *prepared) call.Spec {
	r := p.r
	timeout := r.Timeout
	if timeout <= 0 && p.t.CallTimeout != nil {
		timeout = p.t.CallTimeout(p.args)
	}
	if timeout <= 0 {
		timeout = w.o.DefaultTimeout
	}
	s := call.Spec{Agent: p.req.Agent, Action: p.req.Action, Input: p.req.Input, Targets: p.targets, Timeout: timeout,
		BatchSize: r.BatchSize, BatchSleep: r.BatchSleep, AnyOne: r.AnyOne, Retry: r.Retry, NoOp: w.o.NoOp || r.NoOp,
		Judge: func(rep *fleet.Reply) error { return judge(p, rep) }, Stop: w.o.Stop,
		OnResult: func(nr *call.NodeResult) {
			w.emit(Event{Type: EventNodeResult, Resource: r.Addr, Node: nr.Identity, Status: nr.Status, OK: nr.OK, Batch: p.batch,
				Changed: boolInt(nr.Reply != nil && nr.Reply.Changed), Message: nr.Err, Attempt: nr.Attempt, Elapsed: replyElapsed(nr)})
		},
		OnRetry: func(attempt int, failing []string, wait time.Duration) {
			w.emit(Event{Type: EventResourceRetry, Resource: r.Addr, Attempt: attempt, Nodes: failing, Batch: p.batch,
				Message: fmt.Sprintf("%d node(s) still failing; retrying in %s", len(failing), wait.Round(time.Millisecond))})
		}}
	if w.o.NoOp {
		s.Retry = fleet.Retry{}
	}
	return s
}

// judge applies the type's check, then the playbook's expect, to an ok
// reply.
func judge(p *prepared, rep *fleet.Reply) error {
	if p.t.Check != nil {
		if err := p.t.Check(p.args, rep); err != nil {
			return err
		}
	}
	if p.r.Late.HasExpect() {
		return p.r.Late.Expect(rep)
	}
	return nil
}

// tally fills rr from the executor's result and decides the outcome. The
// reason names every node that failed, and the nodes of batches never
// started; a lost broker comes first, as the cause.
func tally(rr *ResourceReport, p *prepared, res *call.Result) {
	rr.Attempts, rr.Batches, rr.NotStarted = res.Attempts, res.Batches, res.NotStarted
	var failed []string
	okOne := false
	for _, cr := range res.Nodes {
		nr := nodeResult(cr)
		rr.Nodes = append(rr.Nodes, nr)
		switch {
		case nr.NoAnswer && cr.Gone:
			rr.NoAnswer++
			failed = append(failed, fmt.Sprintf("%s (no answer: %s)", nr.Identity, nr.Message))
		case nr.NoAnswer:
			rr.NoAnswer++
			failed = append(failed, nr.Identity+" (no answer)")
		case !nr.OK:
			rr.Failed++
			failed = append(failed, fmt.Sprintf("%s (%s)", nr.Identity, nr.Message))
		case nr.Changed:
			rr.Changed++
		default:
			rr.Unchanged++
		}
		okOne = okOne || nr.OK
	}
	rr.Outcome, rr.Reason = outcome(p, res, failed, okOne)
	if budget := p.r.MaxFailed.Of(len(p.targets)); rr.Outcome == OutcomeFailed && !p.r.AnyOne &&
		len(res.NotStarted) == 0 && res.Err == nil && len(failed) <= budget {
		rr.WithinBudget = true
		rr.Reason += fmt.Sprintf(" (within max_failed = %d: what depends on it goes on)", budget)
	}
	if rr.Outcome == OutcomeOK {
		// Nodes an any-one call tried before the one that succeeded do
		// not fail the resource.
		rr.Failed, rr.NoAnswer = 0, 0
	}
}

// outcome decides a resource's outcome and reason from its failed nodes.
func outcome(p *prepared, res *call.Result, failed []string, okOne bool) (Outcome, string) {
	var why []string
	if errors.Is(res.Err, fleet.ErrBrokerLost) {
		// The cause first: the nodes in flight did not answer because of
		// it, and the later batches were not started.
		why = append(why, res.Err.Error())
	}
	switch {
	case p.r.AnyOne && okOne:
		return OutcomeOK, ""
	case p.r.AnyOne && len(failed) == 0 && len(why) == 0:
		return OutcomeFailed, "no node serving " + p.req.Agent + " answered"
	case p.r.AnyOne && len(failed) > 0:
		why = append(why, "no node succeeded: "+strings.Join(failed, ", "))
	case len(failed) > 0:
		why = append(why, fmt.Sprintf("%d of %d node(s) failed: %s", len(failed), len(p.targets), strings.Join(failed, ", ")))
	}
	if len(res.NotStarted) > 0 {
		what := "interrupted"
		if len(why) > 0 {
			what = "later batches"
		}
		why = append(why, fmt.Sprintf("%s: %d of %d node(s) not started: %s", what, len(res.NotStarted), len(p.targets), strings.Join(res.NotStarted, ", ")))
	}
	if len(why) == 0 {
		return OutcomeOK, ""
	}
	return OutcomeFailed, strings.Join(why, "; ")
}

// nodeResult is the report's view of one node's final result.
func nodeResult(cr *call.NodeResult) *NodeResult {
	nr := &NodeResult{Identity: cr.Identity, Status: cr.Status, OK: cr.OK, Message: cr.Err, Attempt: cr.Attempt, NoAnswer: cr.NoAnswer, Reply: cr.Reply}
	if cr.Reply != nil {
		nr.Changed, nr.Data, nr.Elapsed = cr.Reply.Changed, cr.Reply.Data, cr.Reply.Elapsed
		if cr.OK {
			nr.Message = cr.Reply.Message
		}
	}
	return nr
}

func replyElapsed(nr *call.NodeResult) time.Duration {
	if nr.Reply == nil {
		return 0
	}
	return nr.Reply.Elapsed
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func uniq(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
