// Package engine walks a compiled catalog across the fleet: it runs each
// resource instance as soon as everything it depends on has succeeded,
// discovers node sets when first needed, calls the resource's action on its
// targets (batched, or any one with failover), retries the nodes still
// failing, skips what depends on a failure, and reports every node's result
// as events and in a final report. It knows nothing of HCL.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/resources"
)

// Fleet is what the engine needs of the fleet; *rpc.Fleet satisfies it
// through NewFleet.
type Fleet interface {
	// Discover returns the identities the filter selects, sorted.
	Discover(ctx context.Context, f fleet.Filter) ([]string, error)
	Call(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error)
	CallAnyOne(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error)
}

// MissingFinder is an optional capability of a Fleet: discovery that
// also returns the nodes the filter selects that left the registry
// without stopping (killed, cut off, or unable to write the registry
// while a broker failed over), each with when it was last seen. The
// engine targets them with the others, so that a node set never shrinks
// silently: a node that is gone is named as not answering, one that is
// alive gets the change. *rpc.Fleet implements it.
type MissingFinder interface {
	DiscoverWithMissing(ctx context.Context, f fleet.Filter) (live []string, missing []fleet.MissingNode, err error)
}

// BrokerNotifier is an optional capability of a Fleet: it tells of the
// changes of its connection to the broker, which the engine reports as
// EventBroker events. *rpc.Fleet implements it when its client has a
// broker watch.
type BrokerNotifier interface {
	// NotifyBroker calls fn for every later change until cancel is called;
	// fn must not block for long.
	NotifyBroker(fn func(fleet.BrokerEvent)) (cancel func())
}

// Options tune a run.
type Options struct {
	Parallelism int  // resource instances in flight at once; 0 = 10
	FailFast    bool // start nothing new after the first failure
	// NoOp is plan mode: calls carry the no-op flag so providers report what
	// they would change; nothing is retried and a failure does not skip the
	// resources after it (the plan shows every step).
	NoOp           bool
	DefaultTimeout time.Duration // per call when the resource sets none; 0 = 60s
	// Events receives every event, from several goroutines but never
	// concurrently (the engine serialises the calls).
	Events func(Event)
	// Clock is for tests; nil = time.Now.
	Clock func() time.Time
	// Stop, when closed, stops the run gracefully: nothing new starts and
	// nothing is retried, while calls in flight finish (or time out) and
	// are reported. Cancelling ctx instead aborts the calls in flight.
	Stop <-chan struct{}
	// Confirm, when set, asks a person whether a rollout may go on after
	// its first batch (the canary) when the rollout says confirm = true
	// (or before every batch after the first with ConfirmEach); false stops
	// the rollout. Nil: nobody can confirm, so such a rollout stops after
	// its canary.
	Confirm     func(ctx context.Context, question string) bool
	ConfirmEach bool
	// Locker, when set, takes the run lock the catalog names (or LockName)
	// for the run; a plan takes none. Nil: no lock is taken.
	Locker Locker
	// LockName overrides the catalog's lock name.
	LockName string
	// LockHolder says who holds the lock, for the message another run
	// gets (e.g. "alice@ops1 pid 42 (orch apply deploy.hcl)").
	LockHolder string
}

// Locker takes named run locks; *rpc.Client satisfies it. Lock fails at
// once, wrapping fleet.ErrLockHeld, when another run holds the lock; the
// lock is kept until release is called. lost yields one error (saying
// "lost the run lock …") if the lock is lost while held, e.g. when it can
// no longer be renewed; the run then stops as if Options.Stop was closed
// (nothing new starts, calls in flight finish) and its report says why in
// StopReason. A nil lost channel means the lock cannot be lost.
type Locker interface {
	Lock(ctx context.Context, name, holder string) (release func() error, lost <-chan error, err error)
}

// ErrInvalid is wrapped by Run's error when the catalog cannot be run by
// this engine (a resource type it does not know): nothing was changed.
var ErrInvalid = errors.New("invalid catalog")

// Outcome of a resource instance or of the run.
type Outcome string

// Outcomes.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeFailed  Outcome = "failed"
	OutcomeSkipped Outcome = "skipped"
	// OutcomeNotNeeded: a failure hook (when = "failure") whose
	// dependencies all succeeded; neither a failure nor a skip.
	OutcomeNotNeeded Outcome = "not_needed"
)

// NodeResult is one node's result for a resource instance.
type NodeResult struct {
	Identity string          `json:"identity"`
	Status   fleet.Status    `json:"status"` // "" when the node did not answer
	OK       bool            `json:"ok"`     // answered ok and passed the checks
	Changed  bool            `json:"changed"`
	Message  string          `json:"message,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Attempt  int             `json:"attempt"`
	Elapsed  time.Duration   `json:"elapsed_ns"`
	Reply    *fleet.Reply    `json:"-"`
	NoAnswer bool            `json:"no_answer,omitempty"`
}

// ResourceReport is the result of one resource instance.
type ResourceReport struct {
	Addr    string   `json:"addr"`
	Type    string   `json:"type"`
	Agent   string   `json:"agent,omitempty"`
	Action  string   `json:"action,omitempty"`
	Outcome Outcome  `json:"outcome"`
	Reason  string   `json:"reason,omitempty"`
	FailOK  bool     `json:"fail_ok,omitempty"`
	NoOp    bool     `json:"noop,omitempty"` // ran in no-op mode: Changed counts what would change
	Targets []string `json:"targets"`
	AnyOne  bool     `json:"any_one,omitempty"`
	// Batches are the batches the first attempt called, in order, as the
	// call executor made them (nil for any-one); a batch never started
	// because the run stopped is not listed.
	Batches [][]string    `json:"batches,omitempty"`
	Nodes   []*NodeResult `json:"nodes"`
	// NotStarted are targets never called because the run stopped.
	NotStarted []string      `json:"not_started,omitempty"`
	Attempts   int           `json:"attempts"`
	Changed    int           `json:"changed"`
	Unchanged  int           `json:"unchanged"`
	Failed     int           `json:"failed"`
	NoAnswer   int           `json:"no_answer"`
	Started    time.Time     `json:"started"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// Batch is the rollout batch this report is of (1-based) while a
	// member runs; a member's final report sums its batches and has 0.
	Batch int `json:"batch,omitempty"`
	// Rollout is the address of the rollout a member belongs to.
	Rollout string `json:"rollout,omitempty"`
	// WithinBudget: the resource failed on no more nodes than its
	// max_failed, so what depends on it ran; the run still fails.
	WithinBudget bool `json:"within_budget,omitempty"`
}

// Report is the result of a run.
type Report struct {
	Outcome   Outcome             `json:"outcome"`
	Resources []*ResourceReport   `json:"resources"`
	NodeSets  map[string][]string `json:"node_sets"`
	Changed   int                 `json:"changed"`
	Unchanged int                 `json:"unchanged"`
	Failed    int                 `json:"failed"`
	NoAnswer  int                 `json:"no_answer"`
	Skipped   int                 `json:"skipped"`
	Cancelled bool                `json:"cancelled,omitempty"`
	// BrokerLost, when set, is why the run ended early: the connection to
	// the broker was lost and none came back in time ("lost the broker
	// nats://…: …"); nothing was started after it.
	BrokerLost string `json:"broker_lost,omitempty"`
	// StopReason says why the run stopped before its end when the engine
	// itself stopped it (the run lock was lost); "" otherwise.
	StopReason string `json:"stop_reason,omitempty"`
	// LockRelease, when set, says the run lock could not be released at
	// the end of the run (it then expires by itself); the run's outcome
	// does not change.
	LockRelease string `json:"lock_release,omitempty"`
	NoOp        bool   `json:"noop,omitempty"` // a plan: Changed counts what would change
	// InternalError: a resource failed through a bug (a panic), not
	// through the fleet; the CLI exits 3.
	InternalError bool          `json:"internal_error,omitempty"`
	Started       time.Time     `json:"started"`
	Elapsed       time.Duration `json:"elapsed_ns"`
	byAddr        map[string]*ResourceReport
}

// Run walks the catalog: it takes the run lock (Options.Locker), then
// applies every resource instance whose dependencies succeeded and skips the
// others. The error is for runs that could not start (wrapping ErrInvalid
// for a catalog this engine cannot run, or the lock's error); a run that
// failed on the fleet returns a report with Outcome failed.
func Run(ctx context.Context, cat *catalog.Catalog, reg resources.Registry, fleet Fleet, o Options) (*Report, error) {
	o = o.withDefaults()
	for _, r := range cat.Resources {
		if _, ok := reg.Lookup(r.Type); !ok {
			return nil, fmt.Errorf("%w: %s: unknown resource type %q", ErrInvalid, r.Addr, r.Type)
		}
	}
	g, err := graph(cat)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	release, lost, err := o.lock(ctx, cat)
	if err != nil {
		return nil, err
	}
	released := release == nil
	defer func() {
		if !released {
			_ = release()
		}
	}()
	runDone := make(chan struct{})
	defer close(runDone)
	w := newWalker(cat, reg, fleet, o)
	w.o.Stop, w.stopReason = stopOnLoss(o.Stop, lost, runDone, func(why string) {
		w.emit(Event{Type: EventRunStop, Message: why})
	})
	w.emit(Event{Type: EventRunStart, Resources: len(cat.Resources), NoOp: o.NoOp})
	stopNotices := w.watchBroker()
	err = w.walk(ctx, g)
	stopNotices()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rep := w.finish(ctx)
	rep.StopReason = w.stopReason()
	if !released {
		released = true
		if err := release(); err != nil {
			rep.LockRelease = err.Error()
		}
	}
	w.emit(Event{Type: EventRunEnd, Outcome: rep.Outcome, Summary: rep.summary(), Elapsed: rep.Elapsed})
	return rep, nil
}

func (o Options) withDefaults() Options {
	if o.Parallelism <= 0 {
		o.Parallelism = 10
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 60 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// lock takes the run lock when one is named and this is not a plan.
func (o Options) lock(ctx context.Context, cat *catalog.Catalog) (release func() error, lost <-chan error, err error) {
	name := cat.Lock
	if o.LockName != "" {
		name = o.LockName
	}
	if o.Locker == nil || o.NoOp || name == "" {
		return nil, nil, nil
	}
	return o.Locker.Lock(ctx, name, o.LockHolder)
}

// stopOnLoss returns the run's graceful-stop channel: closed when stop is
// closed or when lost yields. reason says why the engine stopped the run
// ("" when it did not); onLoss is told once the run is stopping for that
// reason. Without lost, stop is returned as it is. It stops watching when
// done is closed.
func stopOnLoss(stop <-chan struct{}, lost <-chan error, done <-chan struct{}, onLoss func(why string)) (<-chan struct{}, func() string) {
	if lost == nil {
		return stop, func() string { return "" }
	}
	merged := make(chan struct{})
	var why atomic.Pointer[string]
	go func() {
		select {
		case <-done:
			return
		case <-stop:
			close(merged)
		case err := <-lost:
			msg := "lost the run lock"
			if err != nil {
				msg = err.Error()
			}
			why.Store(&msg)
			close(merged)
			onLoss(msg + "; starting nothing new")
		}
	}()
	return merged, func() string {
		if p := why.Load(); p != nil {
			return *p
		}
		return ""
	}
}

// finish totals the report once every resource is done.
func (w *walker) finish(ctx context.Context) *Report {
	rep := w.report
	listed := map[string]bool{}
	for _, r := range w.cat.Resources {
		// A rollout is listed just before its first member.
		if ro := r.Rollout; ro != "" && !listed[ro] && rep.byAddr[ro] != nil {
			listed[ro] = true
			rep.Resources = append(rep.Resources, rep.byAddr[ro])
		}
		rep.Resources = append(rep.Resources, rep.byAddr[r.Addr])
	}
	rep.Elapsed = w.o.Clock().Sub(rep.Started)
	rep.Outcome = OutcomeOK
	for _, rr := range rep.Resources {
		if rr.Type == rolloutType {
			// Its node counts sum its members'; only its outcome counts.
			rep.countOutcome(rr)
			continue
		}
		if !rr.NoOp {
			rep.Changed += rr.Changed
		} else {
			// A noop resource only ever says what would change; it changes
			// nothing, in a run or in a plan (whose total counts the
			// changes apply would make).
			rep.Unchanged += rr.Changed
		}
		rep.Unchanged += rr.Unchanged
		rep.Failed += rr.Failed
		rep.NoAnswer += rr.NoAnswer
		rep.countOutcome(rr)
	}
	rep.NoOp = w.o.NoOp
	rep.Cancelled = w.stopped(ctx)
	if lost := w.lostBroker(); lost != nil {
		rep.BrokerLost = lost.Error()
		rep.Outcome = OutcomeFailed
	}
	if rep.Cancelled {
		rep.Outcome = OutcomeFailed
	}
	return rep
}

// rolloutType is the Type of a rollout's report.
const rolloutType = "rollout"

// countOutcome folds a resource's outcome into the run's.
func (r *Report) countOutcome(rr *ResourceReport) {
	switch {
	case rr.Outcome == OutcomeSkipped:
		r.Skipped++
		r.Outcome = OutcomeFailed
	case rr.Outcome == OutcomeFailed && !rr.FailOK:
		r.Outcome = OutcomeFailed
	}
}

func (r *Report) summary() string {
	ok, failed := 0, 0
	for _, rr := range r.Resources {
		switch rr.Outcome {
		case OutcomeOK:
			ok++
		case OutcomeFailed:
			failed++
		}
	}
	changed := "changed"
	if r.NoOp {
		changed = "would change"
	}
	return fmt.Sprintf("%d resource(s): %d ok, %d failed, %d skipped; nodes: %d %s, %d unchanged, %d failed, %d no answer",
		len(r.Resources), ok, failed, r.Skipped, r.Changed, changed, r.Unchanged, r.Failed, r.NoAnswer)
}

// Summary is the one-line summary of the run.
func (r *Report) Summary() string { return r.summary() }
