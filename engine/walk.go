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
	for _, r := range cat.Resources {
		for _, k := range r.NodeSets {
			if _, _, ok := catalog.SplitResultKey(k); ok {
				w.wantResults[k] = true
			}
		}
	}
	return w
}

// graph makes the dependency graph of the catalog's instances, in catalog
// order so that ready instances start in that order.
func graph(cat *catalog.Catalog) (*dag.Graph[*catalog.Resource], error) {
	g := dag.New[*catalog.Resource]()
	byAddr := make(map[string]*catalog.Resource, len(cat.Resources))
	for _, r := range cat.Resources {
		g.Add(r)
		byAddr[r.Addr] = r
	}
	for _, r := range cat.Resources {
		for _, d := range r.DependsOn {
			dep, ok := byAddr[d]
			if !ok {
				return nil, fmt.Errorf("%s depends on %s, which is not in the catalog", r.Addr, d)
			}
			if err := g.DependOn(r, dep); err != nil {
				return nil, err
			}
		}
	}
	return g, nil
}

func (w *walker) walk(ctx context.Context, g *dag.Graph[*catalog.Resource]) error {
	dw := dag.Walker[*catalog.Resource]{
		Parallelism: w.o.Parallelism,
		Visit:       func(ctx context.Context, r *catalog.Resource) dag.Outcome { return w.visit(ctx, r) },
		Gate:        func(*catalog.Resource) string { return w.gate(ctx) },
		Skipped:     w.skipped,
	}
	return dw.Walk(ctx, g)
}

// visit applies r and says whether its dependents may run: after a
// success, after a fail_ok failure, and in a plan always (a plan shows
// every step, also those after one that would fail now).
func (w *walker) visit(ctx context.Context, r *catalog.Resource) dag.Outcome {
	rr := w.applySafely(ctx, r)
	w.recordResults(rr)
	w.mu.Lock()
	w.report.byAddr[r.Addr] = rr
	w.mu.Unlock()
	if rr.Outcome == OutcomeOK || rr.FailOK || w.o.NoOp {
		return dag.Succeeded
	}
	w.failed.Store(true)
	return dag.Failed
}

// applySafely applies r; a panic (a bug in orch or in a resource type)
// fails r as an internal error instead of killing the run, and marks the
// report so that the CLI exits 3.
func (w *walker) applySafely(ctx context.Context, r *catalog.Resource) (rr *ResourceReport) {
	defer func() {
		if p := recover(); p != nil {
			w.mu.Lock()
			w.report.InternalError = true
			w.mu.Unlock()
			rr = &ResourceReport{Addr: r.Addr, Type: r.Type, FailOK: r.FailOK, Started: w.o.Clock()}
			rr = w.end(rr, OutcomeFailed, fmt.Sprintf("internal error (a bug in orch; please report it): %v\n%s", p, debug.Stack()))
		}
	}()
	return w.apply(ctx, r)
}

// gate says why a ready resource must not start, if it must not.
func (w *walker) gate(ctx context.Context) string {
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

func (w *walker) skipped(r *catalog.Resource, why dag.Skip[*catalog.Resource]) {
	reason := why.Reason
	switch {
	case reason != "":
	case why.CauseSkipped && w.failedRoot(why.Root):
		// Name the root cause too: the operator fixes that one.
		reason = fmt.Sprintf("skipped: %s was skipped (%s failed)", why.Cause.Addr, why.Root.Addr)
	case why.CauseSkipped:
		reason = fmt.Sprintf("skipped: %s was skipped", why.Cause.Addr)
	default:
		reason = fmt.Sprintf("skipped: %s failed", why.Cause.Addr)
	}
	rr := &ResourceReport{Addr: r.Addr, Type: r.Type, Outcome: OutcomeSkipped, Reason: reason, FailOK: r.FailOK, Started: w.o.Clock()}
	w.mu.Lock()
	w.report.byAddr[r.Addr] = rr
	w.mu.Unlock()
	w.emit(Event{Type: EventResourceEnd, Resource: r.Addr, Outcome: OutcomeSkipped, Message: reason})
}

// failedRoot reports whether r ran and failed (rather than being skipped
// by a stop or fail-fast).
func (w *walker) failedRoot(r *catalog.Resource) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	rr := w.report.byAddr[r.Addr]
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
func (w *walker) watchBroker() (cancel func()) {
	bn, ok := w.fleet.(BrokerNotifier)
	if !ok {
		return func() {}
	}
	return bn.NotifyBroker(func(e fleet.BrokerEvent) {
		if e.Kind == fleet.BrokerLost {
			w.noteBrokerLost(&fleet.BrokerLostError{Broker: e.Broker, Err: e.Err})
		}
		w.emit(Event{Type: EventBroker, Broker: e.Broker, Connection: string(e.Kind), OK: e.Kind == fleet.BrokerReconnected, Message: e.String()})
	})
}
