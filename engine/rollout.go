package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/internal/dag"
)

// rollout is the state of one rollout while it runs.
type rollout struct {
	ro     *catalog.Rollout
	budget int // nodes that may fail

	mu      sync.Mutex
	cur     []string          // the current batch, less the nodes that failed in it
	failed  map[string]string // node -> why it left the rollout
	changed map[string]bool
	members map[string]*ResourceReport // addr -> the member's report so far
}

// roll applies a rollout: its members for each batch of its node set in
// turn. Nodes that fail leave the rollout; it goes on while the failure
// budget holds. Its dependents run when every batch was rolled within the
// budget; its outcome is failed whenever a node failed (exit 1).
func (w *walker) roll(ctx context.Context, s *step) dag.Outcome {
	ro := s.ro
	rr := &ResourceReport{Addr: ro.Addr, Type: rolloutType, Started: w.o.Clock()}
	ids, err := w.resolveKey(ctx, ro.NodeSet)
	if err != nil {
		w.finishRollout(rr, nil, "", err.Error())
		return dag.Failed
	}
	st := &rollout{ro: ro, budget: ro.MaxFailed.Of(len(ids)), failed: map[string]string{}, changed: map[string]bool{}, members: map[string]*ResourceReport{}}
	rr.Targets = ids
	plan := batchPlan(ro.Batches, ids)
	w.emit(Event{Type: EventResourceStart, Resource: ro.Addr, Nodes: ids, Message: describePlan(ro, plan, st.budget), NoOp: w.o.NoOp})
	stop := ""
	for k, batch := range plan {
		if stop = w.beforeBatch(ctx, ro, k, len(plan)); stop != "" {
			rr.NotStarted = slices.Concat(plan[k:]...)
			break
		}
		rr.Batches = append(rr.Batches, batch)
		w.emit(Event{Type: EventBatch, Resource: ro.Addr, Batch: k + 1, Nodes: batch, Message: fmt.Sprintf("batch %d of %d", k+1, len(plan))})
		w.rollBatch(ctx, s, st, k+1, batch)
		if reason := w.gate(ctx, &step{ro: ro}); reason != "" {
			// Stopped during the batch: members may have been skipped.
			stop = strings.TrimPrefix(reason, "skipped: ")
			rr.NotStarted = slices.Concat(plan[k+1:]...)
			break
		}
		if n := len(st.failed); n > st.budget {
			stop = fmt.Sprintf("%d node(s) failed, more than max_failed = %d: no new batch started", n, st.budget)
			rr.NotStarted = slices.Concat(plan[k+1:]...)
			break
		}
	}
	w.finishRollout(rr, st, stop, "")
	if stop != "" || len(rr.NotStarted) > 0 {
		return dag.Failed
	}
	return dag.Succeeded
}

// batchPlan cuts ids into batches of the given sizes, the last repeated.
func batchPlan(sizes []catalog.Size, ids []string) [][]string {
	if len(sizes) == 0 {
		sizes = []catalog.Size{{Percent: 100}}
	}
	var plan [][]string
	for k, rest := 0, ids; len(rest) > 0; k++ {
		n := max(1, sizes[min(k, len(sizes)-1)].Of(len(ids)))
		n = min(n, len(rest))
		plan, rest = append(plan, rest[:n]), rest[n:]
	}
	return plan
}

func describePlan(ro *catalog.Rollout, plan [][]string, budget int) string {
	sizes := make([]string, len(plan))
	for i, b := range plan {
		sizes[i] = fmt.Sprint(len(b))
	}
	return fmt.Sprintf("rollout in %d batch(es) of %s node(s); max_failed %d", len(plan), strings.Join(sizes, ", "), budget)
}

// beforeBatch waits between two batches (pause, confirmation) and says why
// the rollout must stop, "" to go on.
func (w *walker) beforeBatch(ctx context.Context, ro *catalog.Rollout, k, n int) string {
	if k == 0 || w.o.NoOp {
		// A plan shows every batch without pausing or asking.
		return strings.TrimPrefix(w.gate(ctx, &step{ro: ro}), "skipped: ")
	}
	if ro.Pause > 0 {
		t := time.NewTimer(ro.Pause)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-w.o.Stop:
		}
		t.Stop()
	}
	if reason := w.gate(ctx, &step{ro: ro}); reason != "" {
		return strings.TrimPrefix(reason, "skipped: ")
	}
	if !(ro.Confirm && k == 1) && !w.o.ConfirmEach {
		return ""
	}
	if w.o.Confirm == nil {
		return "the rollout waits for a confirmation before batch 2, and nobody can give it here: run on a terminal, or pass --yes"
	}
	if !w.o.Confirm(ctx, fmt.Sprintf("%s: batch %d of %d done. Go on with batch %d?", ro.Addr, k, n, k+1)) {
		return fmt.Sprintf("not confirmed after batch %d", k)
	}
	return ""
}

// rollBatch walks the rollout's members for one batch. Members read the
// batch from the rollout's batch key; when a member fails on some nodes of
// the batch, those nodes leave it and the chain goes on with the others
// while the budget holds.
func (w *walker) rollBatch(ctx context.Context, s *step, st *rollout, batch int, nodes []string) {
	st.mu.Lock()
	st.cur = slices.Clone(nodes)
	st.mu.Unlock()
	w.setBatch(st)
	visit := func(ctx context.Context, m *step) dag.Outcome {
		out := w.visit(ctx, m.r, batch)
		w.mu.Lock()
		rr := w.report.byAddr[m.r.Addr]
		w.mu.Unlock()
		return w.absorb(st, m.r, rr, out)
	}
	dw := w.walker(ctx, visit)
	dw.Skipped = func(m *step, why dag.Skip[*step]) {
		w.skipResource(m.r, w.skipReason(why), batch)
		w.mu.Lock()
		rr := w.report.byAddr[m.r.Addr]
		w.mu.Unlock()
		st.merge(m.r.Addr, rr)
	}
	_ = dw.Walk(ctx, s.members) // acyclic: a subgraph of the checked catalog
}

// absorb merges a member's report for the batch and decides whether the
// chain goes on: nodes of the batch that failed leave it; a failure
// elsewhere (the load balancer, say) or an exceeded budget stops the
// batch's chain.
func (w *walker) absorb(st *rollout, r *catalog.Resource, rr *ResourceReport, out dag.Outcome) dag.Outcome {
	st.merge(r.Addr, rr)
	if rr.Outcome != OutcomeFailed || rr.FailOK || w.o.NoOp {
		return out
	}
	st.mu.Lock()
	inBatch := map[string]bool{}
	for _, id := range st.cur {
		inBatch[id] = true
	}
	var other []string
	for _, nr := range rr.Nodes {
		switch {
		case nr.OK:
		case inBatch[nr.Identity]:
			st.failed[nr.Identity] = fmt.Sprintf("%s: %s", r.Addr, nr.Message)
			delete(inBatch, nr.Identity)
		default:
			other = append(other, nr.Identity)
		}
	}
	st.cur = slices.DeleteFunc(st.cur, func(id string) bool { return !inBatch[id] })
	over := len(st.failed) > st.budget
	empty := len(st.cur) == 0
	st.mu.Unlock()
	w.setBatch(st)
	if len(other) > 0 || over || empty || rr.NotStarted != nil {
		return dag.Failed
	}
	return dag.Succeeded
}

// setBatch publishes the current batch under the rollout's batch key.
func (w *walker) setBatch(st *rollout) {
	st.mu.Lock()
	cur := slices.Clone(st.cur)
	st.mu.Unlock()
	w.mu.Lock()
	w.resolved[st.ro.BatchKey] = cur
	w.mu.Unlock()
}

// merge adds one batch's report of a member to its running total.
func (st *rollout) merge(addr string, rr *ResourceReport) {
	if rr == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, nr := range rr.Nodes {
		if nr.OK && nr.Changed && !rr.NoOp {
			// A noop member only says what would change.
			st.changed[nr.Identity] = true
		}
	}
	sum := st.members[addr]
	if sum == nil {
		c := *rr
		c.Batch, c.Batches = 0, nil
		st.members[addr] = &c
		sum = &c
	} else {
		sum.Nodes = append(sum.Nodes, rr.Nodes...)
		sum.Targets = append(sum.Targets, rr.Targets...)
		sum.NotStarted = append(sum.NotStarted, rr.NotStarted...)
		sum.Changed += rr.Changed
		sum.Unchanged += rr.Unchanged
		sum.Failed += rr.Failed
		sum.NoAnswer += rr.NoAnswer
		sum.Attempts = max(sum.Attempts, rr.Attempts)
		sum.Elapsed = rr.Started.Add(rr.Elapsed).Sub(sum.Started)
		if worse(rr.Outcome, sum.Outcome) {
			sum.Outcome = rr.Outcome
		}
		if rr.Reason != "" && rr.Outcome != OutcomeOK {
			sum.Reason = rr.Reason
		}
	}
	if len(rr.Targets) > 0 {
		sum.Batches = append(sum.Batches, rr.Targets)
	}
}

// worse orders outcomes for a member's summary over its batches.
func worse(a, b Outcome) bool {
	rank := map[Outcome]int{OutcomeNotNeeded: 0, OutcomeOK: 1, OutcomeSkipped: 2, OutcomeFailed: 3}
	return rank[a] > rank[b]
}

// finishRollout reports the rollout and its members' totals, and records
// its results (module.NAME.failed_nodes ...).
func (w *walker) finishRollout(rr *ResourceReport, st *rollout, stop, fail string) {
	outcome, reason := OutcomeOK, fail
	if fail != "" {
		outcome = OutcomeFailed
	}
	if st != nil {
		outcome, reason = st.outcome(rr, stop)
		w.mu.Lock()
		for addr, sum := range st.members {
			w.report.byAddr[addr] = sum
		}
		w.mu.Unlock()
	}
	w.end(rr, outcome, reason)
	w.recordResults(rr)
	w.mu.Lock()
	w.report.byAddr[rr.Addr] = rr
	w.mu.Unlock()
}

// outcome fills rr's nodes and says how the rollout went.
func (st *rollout) outcome(rr *ResourceReport, stop string) (Outcome, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	notStarted := map[string]bool{}
	for _, id := range rr.NotStarted {
		notStarted[id] = true
	}
	var failed []string
	for _, id := range rr.Targets {
		why, bad := st.failed[id]
		switch {
		case notStarted[id]:
			continue
		case bad:
			failed = append(failed, fmt.Sprintf("%s (%s)", id, why))
			rr.Failed++
		case st.changed[id]:
			rr.Changed++
		default:
			rr.Unchanged++
		}
		rr.Nodes = append(rr.Nodes, &NodeResult{Identity: id, OK: !bad, Changed: st.changed[id] && !bad, Message: why})
	}
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d node(s) failed and left the rollout: %s", len(failed), len(rr.Targets), strings.Join(failed, ", ")))
	}
	if stop != "" {
		parts = append(parts, stop)
	}
	if len(rr.NotStarted) > 0 {
		parts = append(parts, fmt.Sprintf("%d node(s) not started: %s", len(rr.NotStarted), strings.Join(rr.NotStarted, ", ")))
	}
	if len(parts) == 0 {
		return OutcomeOK, ""
	}
	return OutcomeFailed, strings.Join(parts, "; ")
}

// skipRollout reports a rollout and its members skipped.
func (w *walker) skipRollout(s *step, reason string) {
	rr := &ResourceReport{Addr: s.ro.Addr, Type: rolloutType, Outcome: OutcomeSkipped, Reason: reason, Started: w.o.Clock()}
	w.recordResults(rr) // empty: no node went through it
	w.mu.Lock()
	w.report.byAddr[rr.Addr] = rr
	w.mu.Unlock()
	w.emit(Event{Type: EventResourceEnd, Resource: rr.Addr, Outcome: OutcomeSkipped, Message: reason})
	for _, addr := range s.ro.Members {
		if r := w.instances[addr]; r != nil {
			w.skipResource(r, fmt.Sprintf("skipped: its rollout %s was skipped", s.ro.Addr), 0)
		}
	}
}

// resolveKey returns the identities of a node set or of an earlier
// result.
func (w *walker) resolveKey(ctx context.Context, key string) ([]string, error) {
	res, err := w.resolve(ctx, &catalog.Resource{NodeSets: []string{key}})
	if err != nil {
		return nil, err
	}
	return res[key], nil
}
