package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/dag"
	"github.com/orch-fleet/orch/resources"
)

// walker holds the state of one run. The DAG walk itself is internal/dag's;
// the walker supplies the policy: what a failure stops (fail_ok and plans
// stop nothing), fail-fast, graceful stop, and what a skip says.
type walker struct {
	cat   *catalog.Catalog
	reg   resources.Registry
	fleet Fleet
	o     Options

	failed atomic.Bool // a resource failed (not fail_ok): fail-fast stops new work
	// brokerLost is the first error wrapping fleet.ErrBrokerLost: nothing
	// new starts after it.
	brokerLost atomic.Pointer[error]

	mu       sync.Mutex // guards resolved, nsErr, report
	resolved catalog.Resolved
	nsErr    map[string]error
	nsLocks  sync.Map // addr -> *sync.Mutex, so each node set is discovered once
	// instances are the catalog's resource instances by address.
	instances map[string]*catalog.Resource
	// wantResults are the result keys some resource uses (changed_nodes...)
	wantResults map[string]bool
	report      *Report

	evMu sync.Mutex // serialises Options.Events

	// stopReason says why the engine stopped the run itself ("" if it
	// did not); see stopOnLoss.
	stopReason func() string
}

func newWalker(cat *catalog.Catalog, reg resources.Registry, fleet Fleet, o Options) *walker {
	w := &walker{cat: cat, reg: reg, fleet: fleet, o: o, resolved: catalog.Resolved{}, nsErr: map[string]error{},
		wantResults: map[string]bool{},
		report:      &Report{Started: o.Clock(), NodeSets: map[string][]string{}, byAddr: map[string]*ResourceReport{}},
		stopReason:  func() string { return "" }}
	w.instances = make(map[string]*catalog.Resource, len(cat.Resources))
	for _, r := range cat.Resources {
		w.instances[r.Addr] = r
		for _, k := range r.NodeSets {
			if _, _, ok := catalog.SplitResultKey(k); ok {
				w.wantResults[k] = true
			}
		}
	}
	return w
}

// step is a vertex of the run's graph: one resource instance, or a rollout
// standing for its members (walked batch by batch inside it).
type step struct {
	r  *catalog.Resource // nil for a rollout
	ro *catalog.Rollout
	// members is the rollout's own graph of its instances.
	members *dag.Graph[*step]
}

func (s *step) addr() string {
	if s.ro != nil {
		return s.ro.Addr
	}
	return s.r.Addr
}

// tolerant reports whether s runs whatever its dependencies' outcomes (a
// hook: when = "failure" or "always").
func (s *step) tolerant() bool { return s.r != nil && s.r.When != catalog.WhenSuccess }

// graph makes the dependency graph of the catalog's instances, in catalog
// order so that ready instances start in that order. A rollout's members
// become one vertex; their dependencies outside the rollout become the
// rollout's.
func graph(cat *catalog.Catalog) (*dag.Graph[*step], error) {
	g := dag.New[*step]()
	of := make(map[string]*step, len(cat.Resources))
	inner := map[string]*step{}
	rollouts := map[string]*step{}
	for _, r := range cat.Resources {
		if r.Rollout == "" {
			of[r.Addr] = &step{r: r}
			g.Add(of[r.Addr])
			continue
		}
		ro, ok := cat.Rollouts[r.Rollout]
		if !ok {
			return nil, fmt.Errorf("%s belongs to rollout %s, which is not in the catalog", r.Addr, r.Rollout)
		}
		if rollouts[ro.Addr] == nil {
			rollouts[ro.Addr] = &step{ro: ro, members: dag.New[*step]()}
			g.Add(rollouts[ro.Addr])
		}
		of[r.Addr], inner[r.Addr] = rollouts[ro.Addr], &step{r: r}
		rollouts[ro.Addr].members.Add(inner[r.Addr])
	}
	for _, r := range cat.Resources {
		if err := connect(g, of, inner, r); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// connect adds r's dependencies: inside its rollout's own graph when both
// ends are members of it, else between the outer vertices (once).
func connect(g *dag.Graph[*step], of, inner map[string]*step, r *catalog.Resource) error {
	seen := map[*step]bool{}
	for _, d := range r.DependsOn {
		dep, ok := of[d]
		if !ok {
			return fmt.Errorf("%s depends on %s, which is not in the catalog", r.Addr, d)
		}
		if from := of[r.Addr]; from == dep {
			if err := from.members.DependOn(inner[r.Addr], inner[d]); err != nil {
				return err
			}
		} else if !seen[dep] {
			seen[dep] = true
			if err := g.DependOn(from, dep); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) walk(ctx context.Context, g *dag.Graph[*step]) error {
	return w.walker(ctx, func(ctx context.Context, s *step) dag.Outcome {
		if s.ro != nil {
			return w.roll(ctx, s)
		}
		return w.visit(ctx, s.r, 0)
	}).Walk(ctx, g)
}

// walker is the DAG walker with the engine's policy: visit runs a step,
// the gate refuses new work after a stop, skips are reported, hooks are
// tolerant of failures upstream.
func (w *walker) walker(ctx context.Context, visit func(context.Context, *step) dag.Outcome) *dag.Walker[*step] {
	return &dag.Walker[*step]{
		Parallelism: w.o.Parallelism,
		Visit:       visit,
		Gate:        func(s *step) string { return w.gate(ctx, s) },
		Skipped:     w.skipped,
		Tolerant:    (*step).tolerant,
	}
}

// visit applies r (in batch, for a rollout member) and says whether its
// dependents may run: after a success, after a fail_ok failure, and in a
// plan always (a plan shows every step, also those after one that would
// fail now).
func (w *walker) visit(ctx context.Context, r *catalog.Resource, batch int) dag.Outcome {
	var rr *ResourceReport
	if r.When == catalog.WhenFailure && !w.anyFailed(r.DependsOn) {
		rr = &ResourceReport{Addr: r.Addr, Type: r.Type, Started: w.o.Clock(), Batch: batch, Rollout: r.Rollout}
		rr = w.end(rr, OutcomeNotNeeded, "not needed: nothing it follows failed")
	} else {
		rr = w.applySafely(ctx, r, batch)
	}
	w.recordResults(rr)
	w.mu.Lock()
	w.report.byAddr[r.Addr] = rr
	w.mu.Unlock()
	if rr.Outcome != OutcomeFailed || rr.FailOK || w.o.NoOp {
		return dag.Succeeded
	}
	w.failed.Store(true)
	if rr.WithinBudget {
		return dag.Succeeded
	}
	return dag.Failed
}

// anyFailed reports whether any of addrs failed or was skipped (a rollout
// with nodes that failed counts as failed).
func (w *walker) anyFailed(addrs []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range addrs {
		if rr := w.report.byAddr[a]; rr != nil && (rr.Outcome == OutcomeFailed || rr.Outcome == OutcomeSkipped) {
			return true
		}
		if ro := w.rolloutOf(a); ro != "" {
			if rr := w.report.byAddr[ro]; rr != nil && rr.Outcome == OutcomeFailed {
				return true
			}
		}
	}
	return false
}

// rolloutOf is the rollout the instance addr belongs to, "" if none.
func (w *walker) rolloutOf(addr string) string {
	if r := w.instances[addr]; r != nil {
		return r.Rollout
	}
	return ""
}

// applySafely applies r; a panic (a bug in orch or in a resource type)
// fails r as an internal error instead of killing the run, and marks the
// report so that the CLI exits 3.
func (w *walker) applySafely(ctx context.Context, r *catalog.Resource, batch int) (rr *ResourceReport) {
	defer func() {
		if p := recover(); p != nil {
			w.mu.Lock()
			w.report.InternalError = true
			w.mu.Unlock()
			rr = &ResourceReport{Addr: r.Addr, Type: r.Type, FailOK: r.FailOK, Started: w.o.Clock(), Batch: batch, Rollout: r.Rollout}
			rr = w.end(rr, OutcomeFailed, fmt.Sprintf("internal error (a bug in orch; please report it): %v\n%s", p, debug.Stack()))
		}
	}()
	return w.apply(ctx, r, batch)
}

// gate says why a ready step must not start, if it must not. Clean-up
// (when = "always") runs after a graceful stop too; nothing runs once ctx
// is cancelled (a second signal aborts).
func (w *walker) gate(ctx context.Context, s *step) string {
	if s.r != nil && s.r.When == catalog.WhenAlways && ctx.Err() == nil {
		return ""
	}
	switch {
	case w.stopped(ctx) && w.stopReason() != "":
		return "skipped: " + w.stopReason()
	case w.stopped(ctx):
		return "skipped: the run was interrupted before it started"
	case w.lostBroker() != nil:
		return "skipped: " + w.lostBroker().Error()
	case w.o.FailFast && w.failed.Load():
		return "skipped: an earlier failure stopped the run (--fail-fast)"
	}
	return ""
}

func (w *walker) skipped(s *step, why dag.Skip[*step]) {
	reason := w.skipReason(why)
	if s.ro != nil {
		w.skipRollout(s, reason)
		return
	}
	w.skipResource(s.r, reason, 0)
}

// skipReason says why a step is skipped: the gate's reason, or the
// dependency that stopped it (and the failure at the root of the chain).
func (w *walker) skipReason(why dag.Skip[*step]) string {
	reason := why.Reason
	switch {
	case reason != "":
	case why.CauseSkipped && w.failedRoot(why.Root.addr()):
		// Name the root cause too: the operator fixes that one.
		reason = fmt.Sprintf("skipped: %s was skipped (%s failed)", why.Cause.addr(), why.Root.addr())
	case why.CauseSkipped:
		reason = fmt.Sprintf("skipped: %s was skipped", why.Cause.addr())
	default:
		reason = fmt.Sprintf("skipped: %s failed", why.Cause.addr())
	}
	return reason
}

// skipResource reports r skipped for reason (in batch, for a member).
func (w *walker) skipResource(r *catalog.Resource, reason string, batch int) {
	rr := &ResourceReport{Addr: r.Addr, Type: r.Type, Outcome: OutcomeSkipped, Reason: reason, FailOK: r.FailOK, Started: w.o.Clock(), Batch: batch, Rollout: r.Rollout}
	// It ran on no node: its results are empty lists, so that a hook
	// after it (when = "failure" or "always") can still use them.
	w.recordResults(rr)
	w.mu.Lock()
	w.report.byAddr[r.Addr] = rr
	w.mu.Unlock()
	w.emit(Event{Type: EventResourceEnd, Resource: r.Addr, Outcome: OutcomeSkipped, Message: reason, Batch: batch})
}

// failedRoot reports whether addr ran and failed (rather than being
// skipped by a stop or fail-fast).
func (w *walker) failedRoot(addr string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	rr := w.report.byAddr[addr]
	return rr != nil && rr.Outcome == OutcomeFailed
}

// stopped reports whether the run was interrupted (gracefully or not).
func (w *walker) stopped(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-w.o.Stop:
		return true
	default:
		return false
	}
}

func (w *walker) emit(e Event) {
	if w.o.Events == nil {
		return
	}
	e.Time = w.o.Clock()
	w.evMu.Lock()
	defer w.evMu.Unlock()
	w.o.Events(e)
}

// recordResults keeps the run results of rr that later resources use.
func (w *walker) recordResults(rr *ResourceReport) {
	var changed, ok, failed []string
	for _, nr := range rr.Nodes {
		switch {
		case nr.OK && nr.Changed:
			changed = append(changed, nr.Identity)
			ok = append(ok, nr.Identity)
		case nr.OK:
			ok = append(ok, nr.Identity)
		default:
			failed = append(failed, nr.Identity)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for attr, ids := range map[string][]string{catalog.ResultChanged: changed, catalog.ResultOK: ok, catalog.ResultFailed: failed} {
		if k := catalog.ResultKey(rr.Addr, attr); w.wantResults[k] {
			if ids == nil {
				ids = []string{}
			}
			w.resolved[k] = ids
		}
	}
}

// noteBrokerLost records err when it says the broker was lost.
func (w *walker) noteBrokerLost(err error) {
	if errors.Is(err, fleet.ErrBrokerLost) {
		w.brokerLost.CompareAndSwap(nil, &err)
	}
}

// lostBroker is the error of the lost broker, nil while it is not lost.
func (w *walker) lostBroker() error {
	if p := w.brokerLost.Load(); p != nil {
		return *p
	}
	return nil
}

// watchBroker reports the broker's connection changes as events while the
// run walks, when the fleet can tell them (BrokerNotifier).
func (w *walker) watchBroker() (stop func()) {
	bn, ok := w.fleet.(BrokerNotifier)
	if !ok {
		return func() {}
	}
	// The notifier may be calling back as the run ends: cancel waits for
	// a callback in flight, and none emits after it.
	var mu sync.Mutex
	stopped := false
	cancel := bn.NotifyBroker(func(e fleet.BrokerEvent) {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if e.Kind == fleet.BrokerLost {
			w.noteBrokerLost(&fleet.BrokerLostError{Broker: e.Broker, Err: e.Err})
		}
		w.emit(Event{Type: EventBroker, Broker: e.Broker, Connection: string(e.Kind), OK: e.Kind == fleet.BrokerReconnected, Message: e.String()})
	})
	return func() {
		cancel()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}
}
