package views

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
)

// runHuman renders a run for people: a permanent line per event worth one,
// timestamped when plain; on a terminal, below them, a live block of the
// running resources (run_live.go).
type runHuman struct {
	mu   sync.Mutex
	w    io.Writer
	o    RunOptions
	live *liveBlock // nil when plain
}

func newRunHuman(w io.Writer, o RunOptions) *runHuman {
	h := &runHuman{w: w, o: o}
	if o.Live {
		h.live = newLiveBlock()
		go h.tick()
	}
	return h
}

func (h *runHuman) Event(ev engine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.live != nil {
		h.live.track(ev)
	}
	text := h.describe(ev)
	if text == "" && ev.Type == engine.EventNodeResult {
		// A node answering only moves a counter: the ticker redraws, so a
		// thousand replies do not mean a thousand redraws.
		return
	}
	h.live.clear(h.w)
	if text != "" {
		h.line(ev.Time, text)
	}
	h.live.draw(h.w)
}

func (h *runHuman) Notice(msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live.clear(h.w)
	h.line(time.Now(), msg)
	h.live.draw(h.w)
}

func (h *runHuman) Close() {
	if h.live == nil {
		return
	}
	h.live.stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live.clear(h.w)
}

func (h *runHuman) Result(cat *catalog.Catalog, rep *engine.Report) {
	if h.o.NoOp {
		writePlan(h.w, cat, rep)
	}
}

// line prints a permanent line: timestamped when plain.
func (h *runHuman) line(t time.Time, text string) {
	if h.live != nil {
		fmt.Fprintln(h.w, text)
		return
	}
	fmt.Fprintf(h.w, "%s %s\n", t.Format("15:04:05.000"), text)
}

// describe is the permanent line of an event, "" for none.
func (h *runHuman) describe(ev engine.Event) string {
	switch ev.Type {
	case engine.EventRunStart:
		verb := "apply"
		if h.o.NoOp {
			verb = "plan (no-op: nothing will be changed)"
		}
		return fmt.Sprintf("%s %s: %d resource instance(s)", verb, h.o.Playbook, ev.Resources)
	case engine.EventNodeSet:
		filter := ""
		if ev.Message != "" {
			filter = " [" + ev.Message + "]"
		}
		line := fmt.Sprintf("%s: %d node(s)%s: %s", ev.NodeSet, len(ev.Nodes), filter, shortList(ev.Nodes, 20))
		if len(ev.Missing) > 0 {
			line += fmt.Sprintf("\n  warning: %d of them left the registry without stopping; targeted anyway (a node that is gone will not answer): %s",
				len(ev.Missing), shortList(ev.Missing, 10))
		}
		return line
	case engine.EventResourceStart:
		return describeStart(ev)
	case engine.EventBatch:
		return fmt.Sprintf("%s: %s: %s", ev.Resource, ev.Message, shortList(ev.Nodes, 20))
	case engine.EventNodeResult:
		return h.describeNodeResult(ev)
	case engine.EventResourceRetry:
		return fmt.Sprintf("%s: attempt %d: %s: %s", ev.Resource, ev.Attempt, ev.Message, shortList(ev.Nodes, 10))
	case engine.EventResourceEnd:
		return h.describeEnd(ev)
	case engine.EventBroker:
		return ev.Message
	case engine.EventRunStop:
		return "STOPPING: " + ev.Message
	case engine.EventRunEnd:
		tag := "OK"
		if ev.Outcome != engine.OutcomeOK {
			tag = "FAILED"
		}
		if h.o.NoOp {
			tag = "PLAN " + tag
		}
		return fmt.Sprintf("%s: %s in %s", tag, ev.Summary, elapsed(ev.Elapsed))
	}
	return ""
}

// describeStart is the line of a resource starting: its call and how (a
// rollout: its plan).
func describeStart(ev engine.Event) string {
	if ev.Agent == "" && ev.Action == "" {
		return fmt.Sprintf("%s: %s over %d node(s)", ev.Resource, ev.Message, len(ev.Nodes))
	}
	how := fmt.Sprintf("on %d node(s)", len(ev.Nodes))
	switch {
	case ev.AnyOne:
		how = fmt.Sprintf("on any one of %d node(s)", len(ev.Nodes))
	case ev.BatchSize > 0 && len(ev.Nodes) > ev.BatchSize:
		how += fmt.Sprintf(" in batches of %d", ev.BatchSize)
	}
	if ev.NoOp {
		how += " (no-op: asking what would change)"
	}
	return fmt.Sprintf("%s%s: %s.%s %s", ev.Resource, batchText(ev.Batch), ev.Agent, ev.Action, how)
}

// batchText names a rollout member's batch, "" outside rollouts.
func batchText(batch int) string {
	if batch == 0 {
		return ""
	}
	return fmt.Sprintf(" [batch %d]", batch)
}

// describeNodeResult is the line of a node's result: failures always,
// successes when verbose.
func (h *runHuman) describeNodeResult(ev engine.Event) string {
	switch {
	case ev.Status == "" && ev.Message != "" && ev.Message != noAnswer:
		// Why is known: the node went away, hung, or the broker was lost.
		return fmt.Sprintf("%s: %s did not answer%s: %s", ev.Resource, ev.Node, attemptText(ev.Attempt), ev.Message)
	case ev.Status == "":
		return fmt.Sprintf("%s: %s did not answer%s", ev.Resource, ev.Node, attemptText(ev.Attempt))
	case !ev.OK && ev.Status == fleet.StatusOK:
		// It answered ok but the type's check or expect rejected it.
		return fmt.Sprintf("%s: %s failed%s: %s", ev.Resource, ev.Node, attemptText(ev.Attempt), ev.Message)
	case !ev.OK:
		return fmt.Sprintf("%s: %s failed%s: %s: %s", ev.Resource, ev.Node, attemptText(ev.Attempt), ev.Status, ev.Message)
	case h.o.Verbose:
		what := "ok"
		if ev.Changed > 0 {
			what = "changed"
			if h.o.NoOp {
				what = "would change"
			}
		}
		return fmt.Sprintf("%s: %s %s%s (%s)", ev.Resource, ev.Node, what, colonMsg(ev.Message), elapsed(ev.Elapsed))
	}
	return ""
}

// describeEnd is the line of a resource ending: outcome and counts.
func (h *runHuman) describeEnd(ev engine.Event) string {
	counts := fmt.Sprintf("%d changed, %d unchanged", ev.Changed, ev.Unchanged)
	if ev.NoOp || h.o.NoOp {
		counts = fmt.Sprintf("%d would change, %d unchanged", ev.Changed, ev.Unchanged)
	}
	if ev.Failed > 0 {
		counts += fmt.Sprintf(", %d failed", ev.Failed)
	}
	if ev.NoAnswer > 0 {
		counts += fmt.Sprintf(", %d no answer", ev.NoAnswer)
	}
	switch ev.Outcome {
	case engine.OutcomeSkipped, engine.OutcomeNotNeeded:
		return fmt.Sprintf("%s%s: %s", ev.Resource, batchText(ev.Batch), ev.Message)
	case engine.OutcomeFailed:
		tag := "FAILED"
		if ev.FailOK {
			tag = "failed (fail_ok)"
		}
		return fmt.Sprintf("%s%s: %s in %s (%s): %s", ev.Resource, batchText(ev.Batch), tag, elapsed(ev.Elapsed), counts, ev.Message)
	}
	return fmt.Sprintf("%s%s: ok in %s (%s)%s", ev.Resource, batchText(ev.Batch), elapsed(ev.Elapsed), counts, colonMsg(ev.Message))
}

// noAnswer is the message of a node result when a node was merely silent
// (docs/cli.md, node_result).
const noAnswer = "no answer"

var _ Run = (*runHuman)(nil)
