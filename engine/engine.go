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
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/resources"
	"github.com/orch-fleet/orch/rpc"
)

// Fleet is what the engine needs of the fleet; *rpc.Client satisfies it
// through NewFleet.
type Fleet interface {
	// Discover returns the identities the filter selects, sorted.
	Discover(ctx context.Context, f fleet.Filter) ([]string, error)
	Call(ctx context.Context, r rpc.CallRequest) (*rpc.CallResult, error)
	CallAnyOne(ctx context.Context, r rpc.CallRequest) (*rpc.CallResult, error)
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
}

// Outcome of a resource instance or of the run.
type Outcome string

// Outcomes.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeFailed  Outcome = "failed"
	OutcomeSkipped Outcome = "skipped"
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
	Batches   [][]string    `json:"batches,omitempty"`
	Nodes     []*NodeResult `json:"nodes"`
	Attempts  int           `json:"attempts"`
	Changed   int           `json:"changed"`
	Unchanged int           `json:"unchanged"`
	Failed    int           `json:"failed"`
	NoAnswer  int           `json:"no_answer"`
	Started   time.Time     `json:"started"`
	Elapsed   time.Duration `json:"elapsed_ns"`
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
	NoOp      bool                `json:"noop,omitempty"` // a plan: Changed counts what would change
	Started   time.Time           `json:"started"`
	Elapsed   time.Duration       `json:"elapsed_ns"`
	byAddr    map[string]*ResourceReport
}

// Run walks the catalog. The error is for runs that could not start; a run
// that failed on the fleet returns a report with Outcome failed.
func Run(ctx context.Context, cat *catalog.Catalog, reg resources.Registry, fleet Fleet, o Options) (*Report, error) {
	if o.Parallelism <= 0 {
		o.Parallelism = 10
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 60 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	for _, r := range cat.Resources {
		if _, ok := reg.Lookup(r.Type); !ok {
			return nil, fmt.Errorf("%s: unknown resource type %q", r.Addr, r.Type)
		}
	}
	w := &walker{cat: cat, reg: reg, fleet: fleet, o: o, resolved: catalog.Resolved{}, nsErr: map[string]error{},
		report: &Report{Started: o.Clock(), NodeSets: map[string][]string{}, byAddr: map[string]*ResourceReport{}}}
	w.wantResults = map[string]bool{}
	for _, r := range cat.Resources {
		for _, k := range r.NodeSets {
			if _, _, ok := catalog.SplitResultKey(k); ok {
				w.wantResults[k] = true
			}
		}
	}
	w.emit(Event{Type: EventRunStart, Resources: len(cat.Resources), NoOp: o.NoOp})
	w.walk(ctx)
	rep := w.report
	rep.Elapsed = o.Clock().Sub(rep.Started)
	rep.Outcome = OutcomeOK
	for _, rr := range rep.Resources {
		if !rr.NoOp || o.NoOp {
			// A noop resource inside a real run only says what would
			// change; it changed nothing.
			rep.Changed += rr.Changed
		} else {
			rep.Unchanged += rr.Changed
		}
		rep.Unchanged += rr.Unchanged
		rep.Failed += rr.Failed
		rep.NoAnswer += rr.NoAnswer
		switch rr.Outcome {
		case OutcomeSkipped:
			rep.Skipped++
			rep.Outcome = OutcomeFailed
		case OutcomeFailed:
			if !rr.FailOK {
				rep.Outcome = OutcomeFailed
			}
		}
	}
	rep.NoOp = o.NoOp
	rep.Cancelled = w.stopped(ctx)
	if rep.Cancelled {
		rep.Outcome = OutcomeFailed
	}
	w.emit(Event{Type: EventRunEnd, Outcome: rep.Outcome, Summary: rep.summary(), Elapsed: rep.Elapsed})
	return rep, nil
}

// walker holds the state of one run.
type walker struct {
	cat   *catalog.Catalog
	reg   resources.Registry
	fleet Fleet
	o     Options

	mu       sync.Mutex
	resolved catalog.Resolved
	nsErr    map[string]error
	nsLocks  sync.Map // addr -> *sync.Mutex, so each node set is discovered once
	// wantResults are the result keys some resource uses (changed_nodes...)
	wantResults map[string]bool
	report      *Report
	evMu        sync.Mutex
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

// walk schedules resources: each starts when all its dependencies
// succeeded (fail_ok failures count as success for scheduling), at most
// Parallelism at once.
func (w *walker) walk(ctx context.Context) {
	type state int
	const (
		pending state = iota
		running
		done
	)
	n := len(w.cat.Resources)
	st := make(map[string]state, n)
	outcome := map[string]*ResourceReport{}
	results := make(chan *ResourceReport)
	inFlight := 0
	stopNew := false
	for {
		progress := false
		// Start everything ready, in catalog (topological) order.
		for _, r := range w.cat.Resources {
			if st[r.Addr] != pending {
				continue
			}
			ready, blocked := true, ""
			for _, d := range r.DependsOn {
				switch {
				case st[d] != done:
					ready = false
				case outcome[d].Outcome == OutcomeSkipped:
					blocked = fmt.Sprintf("skipped: %s was skipped", d)
				case w.o.NoOp:
					// A plan shows every step, also those after one that
					// would fail now (a check that is not yet passing).
				case outcome[d].Outcome == OutcomeFailed && !outcome[d].FailOK:
					blocked = fmt.Sprintf("skipped: %s failed", d)
				}
				if blocked != "" {
					break
				}
			}
			if blocked == "" && ready && w.stopped(ctx) {
				blocked = "skipped: the run was interrupted before it started"
			}
			if blocked == "" && ready && stopNew {
				blocked = "skipped: an earlier failure stopped the run (--fail-fast)"
			}
			if blocked != "" {
				rr := w.skip(r, blocked)
				st[r.Addr] = done
				outcome[r.Addr] = rr
				progress = true
				continue
			}
			if !ready || inFlight >= w.o.Parallelism {
				continue
			}
			st[r.Addr] = running
			inFlight++
			progress = true
			go func(r *catalog.Resource) { results <- w.apply(ctx, r) }(r)
		}
		if inFlight == 0 {
			// Anything still pending waits on something skipped; the loop
			// above marks those. When nothing changed, we are done.
			allDone := true
			for _, r := range w.cat.Resources {
				if st[r.Addr] != done {
					allDone = false
				}
			}
			if allDone {
				break
			}
			if !progress {
				// Cannot happen with a catalog in topological order; never spin.
				for _, r := range w.cat.Resources {
					if st[r.Addr] != done {
						st[r.Addr] = done
						outcome[r.Addr] = w.skip(r, "skipped: its dependencies never completed")
					}
				}
				break
			}
			continue
		}
		rr := <-results
		inFlight--
		st[rr.Addr] = done
		outcome[rr.Addr] = rr
		w.recordResults(rr)
		if rr.Outcome == OutcomeFailed && !rr.FailOK && w.o.FailFast {
			stopNew = true
		}
	}
	// The report lists resources in catalog order.
	for _, r := range w.cat.Resources {
		w.report.Resources = append(w.report.Resources, outcome[r.Addr])
		w.report.byAddr[r.Addr] = outcome[r.Addr]
	}
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

func (w *walker) skip(r *catalog.Resource, reason string) *ResourceReport {
	rr := &ResourceReport{Addr: r.Addr, Type: r.Type, Outcome: OutcomeSkipped, Reason: reason, FailOK: r.FailOK, Started: w.o.Clock()}
	w.emit(Event{Type: EventResourceEnd, Resource: r.Addr, Outcome: OutcomeSkipped, Message: reason})
	return rr
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

// resolve discovers the node sets r needs, once per run each, and checks
// that the results it uses are there.
func (w *walker) resolve(ctx context.Context, r *catalog.Resource) (catalog.Resolved, error) {
	for _, addr := range r.NodeSets {
		if dep, _, ok := catalog.SplitResultKey(addr); ok {
			w.mu.Lock()
			_, have := w.resolved[addr]
			w.mu.Unlock()
			if !have {
				return nil, fmt.Errorf("the results of %s are not available (it did not run)", dep)
			}
			continue
		}
		lk, _ := w.nsLocks.LoadOrStore(addr, &sync.Mutex{})
		mu := lk.(*sync.Mutex)
		mu.Lock()
		w.mu.Lock()
		_, have := w.resolved[addr]
		err := w.nsErr[addr]
		w.mu.Unlock()
		if !have && err == nil {
			ids, derr := w.discover(ctx, addr)
			w.mu.Lock()
			if derr != nil {
				w.nsErr[addr] = derr
				err = derr
			} else {
				w.resolved[addr] = ids
				w.report.NodeSets[addr] = ids
			}
			w.mu.Unlock()
		}
		mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := catalog.Resolved{}
	for k, v := range w.resolved {
		out[k] = v
	}
	return out, nil
}

func (w *walker) discover(ctx context.Context, addr string) ([]string, error) {
	ns, ok := w.cat.NodeSets[addr]
	if !ok {
		return nil, fmt.Errorf("node set %s is not in the catalog", addr)
	}
	ids, err := w.fleet.Discover(ctx, ns.Filter)
	if err != nil {
		return nil, fmt.Errorf("discovering %s (%s): %w", addr, ns.Filter.String(), err)
	}
	if ids == nil {
		ids = []string{}
	}
	w.emit(Event{Type: EventNodeSet, NodeSet: addr, Nodes: ids, Message: ns.Filter.String()})
	if len(ids) < ns.Min {
		return nil, fmt.Errorf("node set %s (%s) found %d node(s), fewer than min = %d", addr, ns.Filter.String(), len(ids), ns.Min)
	}
	if ns.Max > 0 && len(ids) > ns.Max {
		return nil, fmt.Errorf("node set %s (%s) found %d node(s), more than max = %d", addr, ns.Filter.String(), len(ids), ns.Max)
	}
	return ids, nil
}

// apply runs one resource instance to completion.
func (w *walker) apply(ctx context.Context, r *catalog.Resource) *ResourceReport {
	t, _ := w.reg.Lookup(r.Type)
	rr := &ResourceReport{Addr: r.Addr, Type: r.Type, FailOK: r.FailOK, NoOp: r.NoOp, Started: w.o.Clock()}
	fail := func(reason string) *ResourceReport {
		rr.Outcome, rr.Reason = OutcomeFailed, reason
		rr.Elapsed = w.o.Clock().Sub(rr.Started)
		w.emit(Event{Type: EventResourceEnd, Resource: r.Addr, Outcome: OutcomeFailed, Message: reason, Elapsed: rr.Elapsed, FailOK: r.FailOK})
		return rr
	}
	res, err := w.resolve(ctx, r)
	if err != nil {
		return fail(err.Error())
	}
	args, err := r.Late.Args(res)
	if err != nil {
		return fail(err.Error())
	}
	req, err := t.Request(args)
	if err != nil {
		return fail(fmt.Sprintf("building the request: %v", err))
	}
	rr.Agent, rr.Action = req.Agent, req.Action
	var targets []string
	if r.HasTargets {
		if targets, err = r.Late.Targets(res); err != nil {
			return fail(err.Error())
		}
	} else {
		if targets, err = w.fleet.Discover(ctx, fleet.Filter{Agents: []string{req.Agent}}); err != nil {
			return fail(fmt.Sprintf("discovering the nodes serving %s: %v", req.Agent, err))
		}
		if len(targets) == 0 {
			// Without targets the resource means "every node serving the
			// agent"; none at all is a broken fleet, not a no-op.
			return fail(fmt.Sprintf("no node serves the %s agent: enable provider %q on the nodes that should run it, or give targets", req.Agent, req.Agent))
		}
	}
	targets = uniq(targets)
	rr.Targets = targets
	w.emit(Event{Type: EventResourceStart, Resource: r.Addr, Agent: req.Agent, Action: req.Action, Nodes: targets, AnyOne: r.AnyOne, BatchSize: r.BatchSize, NoOp: r.NoOp})
	if len(targets) == 0 {
		rr.Outcome = OutcomeOK
		rr.Reason = "no target nodes"
		rr.Elapsed = w.o.Clock().Sub(rr.Started)
		w.emit(Event{Type: EventResourceEnd, Resource: r.Addr, Outcome: OutcomeOK, Message: rr.Reason, Elapsed: rr.Elapsed})
		return rr
	}
	timeout := r.Timeout
	if timeout <= 0 && t.CallTimeout != nil {
		timeout = t.CallTimeout(args)
	}
	if timeout <= 0 {
		timeout = w.o.DefaultTimeout
	}
	final := map[string]*NodeResult{}
	remaining := targets
	start := w.o.Clock()
	for attempt := 1; ; attempt++ {
		rr.Attempts = attempt
		results := w.attempt(ctx, r, t, req, args, remaining, timeout, attempt)
		var failing []string
		for _, nr := range results {
			final[nr.Identity] = nr
			if !nr.OK {
				failing = append(failing, nr.Identity)
			}
		}
		if r.AnyOne {
			okOne := false
			for _, nr := range results {
				okOne = okOne || nr.OK
			}
			if okOne {
				failing = nil
			} else if len(failing) == 0 {
				failing = []string{"(none answered)"}
			}
		}
		if len(failing) == 0 || w.stopped(ctx) || !r.Retry.Enabled() || w.o.NoOp {
			break
		}
		if r.Retry.Attempts > 0 && attempt >= r.Retry.Attempts {
			break
		}
		elapsed := w.o.Clock().Sub(start)
		if r.Retry.Timeout > 0 && elapsed+r.Retry.Interval > r.Retry.Timeout {
			break
		}
		w.emit(Event{Type: EventResourceRetry, Resource: r.Addr, Attempt: attempt + 1, Nodes: failing,
			Message: fmt.Sprintf("%d node(s) still failing; retrying in %s", len(failing), r.Retry.Interval)})
		select {
		case <-time.After(r.Retry.Interval):
		case <-ctx.Done():
		case <-w.o.Stop:
		}
		if w.stopped(ctx) {
			break
		}
		if !r.AnyOne {
			remaining = failing
		}
	}
	ids := make([]string, 0, len(final))
	for id := range final {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var failed []string
	okOne := false
	for _, id := range ids {
		nr := final[id]
		rr.Nodes = append(rr.Nodes, nr)
		switch {
		case nr.NoAnswer:
			rr.NoAnswer++
			failed = append(failed, id+" (no answer)")
		case !nr.OK:
			rr.Failed++
			failed = append(failed, fmt.Sprintf("%s (%s)", id, nr.Message))
		case nr.Changed:
			rr.Changed++
		default:
			rr.Unchanged++
		}
		okOne = okOne || nr.OK
	}
	rr.Elapsed = w.o.Clock().Sub(rr.Started)
	switch {
	case r.AnyOne && okOne:
		rr.Outcome = OutcomeOK
		// Nodes tried before the one that succeeded do not fail the resource.
		rr.Failed, rr.NoAnswer = 0, 0
	case r.AnyOne:
		rr.Outcome, rr.Reason = OutcomeFailed, "no node succeeded: "+strings.Join(failed, ", ")
		if len(failed) == 0 {
			rr.Reason = "no node serving " + req.Agent + " answered"
		}
	case len(failed) > 0:
		rr.Outcome, rr.Reason = OutcomeFailed, fmt.Sprintf("%d of %d node(s) failed: %s", len(failed), len(targets), strings.Join(failed, ", "))
	default:
		rr.Outcome = OutcomeOK
	}
	if w.stopped(ctx) && rr.Outcome == OutcomeOK && len(final) < len(targets) && !r.AnyOne {
		var notStarted []string
		for _, id := range targets {
			if final[id] == nil {
				notStarted = append(notStarted, id)
			}
		}
		rr.Outcome, rr.Reason = OutcomeFailed, fmt.Sprintf("interrupted: %d of %d node(s) not started: %s", len(notStarted), len(targets), strings.Join(notStarted, ", "))
	}
	w.emit(Event{Type: EventResourceEnd, Resource: r.Addr, Outcome: rr.Outcome, Message: rr.Reason, Elapsed: rr.Elapsed, FailOK: r.FailOK, NoOp: r.NoOp,
		Changed: rr.Changed, Unchanged: rr.Unchanged, Failed: rr.Failed, NoAnswer: rr.NoAnswer, Attempt: rr.Attempts})
	return rr
}

// attempt makes one call over nodes and judges each reply.
func (w *walker) attempt(ctx context.Context, r *catalog.Resource, t *resources.Type, req resources.Request, args map[string]any, nodes []string, timeout time.Duration, attempt int) []*NodeResult {
	call := rpc.CallRequest{Agent: req.Agent, Action: req.Action, Input: req.Input, Targets: nodes, Timeout: timeout,
		BatchSize: r.BatchSize, BatchSleep: r.BatchSleep, NoOp: w.o.NoOp || r.NoOp}
	// Each reply is judged once (the type's check and expect may be costly)
	// and the verdict reused by the live event, any-one's failover and the
	// final results.
	var judgedMu sync.Mutex
	judged := map[*fleet.Reply]*NodeResult{}
	judge := func(rep *fleet.Reply) *NodeResult {
		judgedMu.Lock()
		defer judgedMu.Unlock()
		if nr, ok := judged[rep]; ok {
			return nr
		}
		nr := &NodeResult{Identity: rep.Identity, Status: rep.Status, Changed: rep.Changed, Message: rep.Message, Data: rep.Data, Attempt: attempt, Elapsed: rep.Elapsed, Reply: rep}
		nr.OK = rep.OK()
		if nr.OK && t.Check != nil {
			if err := t.Check(args, rep); err != nil {
				nr.OK, nr.Message = false, err.Error()
			}
		}
		if nr.OK && r.Late.HasExpect() {
			if err := r.Late.Expect(rep); err != nil {
				nr.OK, nr.Message = false, err.Error()
			}
		}
		if !nr.OK && nr.Message == "" {
			nr.Message = string(rep.Status)
		}
		judged[rep] = nr
		return nr
	}
	call.OnReply = func(rep *fleet.Reply) {
		nr := judge(rep)
		w.emit(Event{Type: EventNodeResult, Resource: r.Addr, Node: rep.Identity, Status: rep.Status, OK: nr.OK, Changed: boolInt(rep.Changed), Message: nr.Message, Attempt: attempt, Elapsed: rep.Elapsed})
	}
	call.Accept = func(rep *fleet.Reply) bool { return judge(rep).OK }
	if r.AnyOne {
		// Start from a random node so that the nodes share the work, and
		// fail over through the others in turn.
		if n := len(nodes); n > 1 {
			k := rand.IntN(n)
			call.Targets = append(append([]string{}, nodes[k:]...), nodes[:k]...)
		}
		return w.collect(r, nodes, attempt, judge)(w.fleet.CallAnyOne(ctx, call))
	}
	// Batches are walked here rather than in the client so that a graceful
	// stop takes effect between batches: a batch in flight always finishes
	// and is reported, the next one never starts.
	size := r.BatchSize
	if size <= 0 || size > len(nodes) {
		size = len(nodes)
	}
	call.BatchSize, call.BatchSleep = 0, 0
	var out []*NodeResult
	for i := 0; i < len(nodes); i += size {
		if i > 0 {
			if r.BatchSleep > 0 {
				select {
				case <-time.After(r.BatchSleep):
				case <-ctx.Done():
				case <-w.o.Stop:
				}
			}
			if w.stopped(ctx) {
				break
			}
		}
		call.Targets = nodes[i:min(i+size, len(nodes))]
		out = append(out, w.collect(r, call.Targets, attempt, judge)(w.fleet.Call(ctx, call))...)
	}
	return out
}

// collect turns a call's result (or error) into node results.
func (w *walker) collect(r *catalog.Resource, nodes []string, attempt int, judge func(*fleet.Reply) *NodeResult) func(*rpc.CallResult, error) []*NodeResult {
	return func(res *rpc.CallResult, err error) []*NodeResult {
		var out []*NodeResult
		if err != nil {
			status := fleet.StatusInternalError
			var se *fleet.StatusError
			if errors.As(err, &se) {
				status = se.Status
			}
			for _, n := range nodes {
				out = append(out, &NodeResult{Identity: n, Status: status, Message: err.Error(), Attempt: attempt})
				w.emit(Event{Type: EventNodeResult, Resource: r.Addr, Node: n, Status: status, Message: err.Error(), Attempt: attempt})
			}
			return out
		}
		for _, rep := range res.Replies {
			out = append(out, judge(rep))
		}
		for _, m := range res.Missing {
			out = append(out, &NodeResult{Identity: m, NoAnswer: true, Message: "no answer", Attempt: attempt})
			w.emit(Event{Type: EventNodeResult, Resource: r.Addr, Node: m, Message: "no answer", Attempt: attempt})
		}
		return out
	}
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
