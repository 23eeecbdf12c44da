package views

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/history"
)

// Timeline is what the HTML views draw of a run's events: one row per
// resource instance (failures first), bars for each batch and attempt on
// a time axis shared by the whole run, and a row per node under each.
type Timeline struct {
	Start time.Time
	End   time.Time
	Ticks []Tick
	Rows  []*TimelineRow
}

// Tick is a mark of the time axis, at X percent of its width.
type Tick struct {
	X     float64
	Label string
}

// TimelineRow is a resource instance in the timeline.
type TimelineRow struct {
	Addr    string
	Call    string // agent.action
	Outcome string // ok, failed, skipped, running
	Reason  string
	Bars    []Bar
	Nodes   []*TimelineNode
	start   time.Time
	end     time.Time
	targets []string
	batch   int
	anyOne  bool
	retries map[int]time.Time // attempt -> when it was announced
	results []engine.Event
}

// TimelineNode is one node's row under a resource.
type TimelineNode struct {
	Identity string
	Outcome  string
	Reply    string // the last reply's status and message
	Bars     []Bar
}

// Bar is a span of the time axis: X and W in percent of its width.
type Bar struct {
	X, W    float64
	Outcome string
	Label   string
	Tip     string // the hover text
	from    time.Time
	to      time.Time
}

// NewTimeline builds the timeline of a run from its record and events;
// a run still going on is drawn up to its last event.
func NewTimeline(rec history.Record, evs []engine.Event) *Timeline {
	tl := &Timeline{Start: rec.Started, End: rec.Ended}
	rows := map[string]*TimelineRow{}
	for _, ev := range evs {
		if tl.Start.IsZero() || (!ev.Time.IsZero() && ev.Time.Before(tl.Start)) {
			tl.Start = ev.Time
		}
		if ev.Time.After(tl.End) {
			tl.End = ev.Time
		}
		if ev.Resource == "" {
			continue
		}
		if rows[ev.Resource] == nil {
			rows[ev.Resource] = &TimelineRow{Addr: ev.Resource, Outcome: "running", start: ev.Time, retries: map[int]time.Time{}}
			tl.Rows = append(tl.Rows, rows[ev.Resource])
		}
		rows[ev.Resource].track(ev)
	}
	for _, r := range tl.Rows {
		r.build(tl.End)
	}
	slices.SortStableFunc(tl.Rows, func(a, b *TimelineRow) int { return cmp.Compare(outcomeRank[a.Outcome], outcomeRank[b.Outcome]) })
	tl.place()
	return tl
}

// outcomeRank orders rows: failures first, skipped last.
var outcomeRank = map[string]int{"failed": 0, "running": 1, "ok": 2, "skipped": 3}

// track takes an event of the row's resource.
func (r *TimelineRow) track(ev engine.Event) {
	switch ev.Type {
	case engine.EventResourceStart:
		r.start, r.targets, r.batch, r.anyOne = ev.Time, ev.Nodes, ev.BatchSize, ev.AnyOne
		r.Call = ev.Agent + "." + ev.Action
	case engine.EventNodeResult:
		r.results = append(r.results, ev)
	case engine.EventResourceRetry:
		r.retries[ev.Attempt] = ev.Time
	case engine.EventResourceEnd:
		r.end, r.Outcome, r.Reason = ev.Time, string(ev.Outcome), ev.Message
		if ev.Outcome == engine.OutcomeFailed && ev.FailOK {
			r.Outcome = "ok"
		}
	}
}

// build draws the row's bars once its events are taken; now ends what is
// still running.
func (r *TimelineRow) build(now time.Time) {
	batchOf := map[string]int{}
	if r.batch > 0 && !r.anyOne {
		for i, n := range r.targets {
			batchOf[n] = i / r.batch
		}
	}
	batchEnd := map[int]time.Time{}
	for _, ev := range r.results {
		if b := batchOf[ev.Node]; ev.Attempt <= 1 && ev.Time.After(batchEnd[b]) {
			batchEnd[b] = ev.Time
		}
	}
	batchStart := func(b int) time.Time {
		if t, ok := batchEnd[b-1]; ok && b > 0 {
			return t
		}
		return r.start
	}
	r.nodeBars(batchOf, batchStart)
	r.resourceBars(batchOf, batchStart, now)
}

// nodeBars draws a bar per node result, from the start of its batch or
// attempt (any one: from the previous node's answer) to its answer.
func (r *TimelineRow) nodeBars(batchOf map[string]int, batchStart func(int) time.Time) {
	nodes := map[string]*TimelineNode{}
	for _, id := range r.targets {
		nodes[id] = &TimelineNode{Identity: id, Outcome: "pending"}
		r.Nodes = append(r.Nodes, nodes[id])
	}
	prev := r.start
	for _, ev := range r.results {
		from := batchStart(batchOf[ev.Node])
		if t, ok := r.retries[ev.Attempt]; ok && ev.Attempt > 1 {
			from = t
		}
		if r.anyOne {
			from = prev
		}
		prev = ev.Time
		n := nodes[ev.Node]
		if n == nil {
			n = &TimelineNode{Identity: ev.Node}
			nodes[ev.Node] = n
			r.Nodes = append(r.Nodes, n)
		}
		n.Outcome, n.Reply = resultOutcome(ev), replyText(ev)
		n.Bars = append(n.Bars, Bar{from: from, to: ev.Time, Outcome: n.Outcome, Label: fmt.Sprintf("attempt %d", max(ev.Attempt, 1)),
			Tip: fmt.Sprintf("%s, attempt %d, %s: %s", ev.Node, max(ev.Attempt, 1), elapsed(ev.Elapsed), n.Reply)})
	}
}

// resourceBars draws a bar per batch of the first attempt and one per
// later attempt, failed when a node of it failed.
func (r *TimelineRow) resourceBars(batchOf map[string]int, batchStart func(int) time.Time, now time.Time) {
	type key struct{ attempt, batch int }
	spans := map[key]*Bar{}
	var order []key
	for _, ev := range r.results {
		k := key{max(ev.Attempt, 1), 0}
		from := r.retries[k.attempt]
		if k.attempt == 1 {
			k.batch = batchOf[ev.Node]
			from = batchStart(k.batch)
		}
		b := spans[k]
		if b == nil {
			b = &Bar{from: from, Outcome: "ok", Label: fmt.Sprintf("attempt %d", k.attempt)}
			if k.attempt == 1 && r.batch > 0 && len(r.targets) > r.batch {
				b.Label = fmt.Sprintf("batch %d", k.batch+1)
			}
			spans[k] = b
			order = append(order, k)
		}
		b.to = ev.Time
		if !ev.OK {
			b.Outcome = "failed"
		}
	}
	for _, k := range order {
		b := spans[k]
		b.Tip = fmt.Sprintf("%s %s: %s in %s", r.Addr, b.Label, b.Outcome, elapsed(b.to.Sub(b.from)))
		r.Bars = append(r.Bars, *b)
	}
	if len(r.Bars) == 0 && r.Outcome != "skipped" {
		end := r.end
		if end.IsZero() {
			end = now
		}
		r.Bars = append(r.Bars, Bar{from: r.start, to: end, Outcome: r.Outcome, Label: r.Outcome, Tip: r.Addr + ": " + r.Outcome + colonMsg(r.Reason)})
	}
}

// resultOutcome is how a node result is coloured.
func resultOutcome(ev engine.Event) string {
	switch {
	case ev.Status == "":
		return "noanswer"
	case !ev.OK:
		return "failed"
	case ev.Changed > 0:
		return "changed"
	}
	return "ok"
}

// replyText is a node's reply as the hover shows it.
func replyText(ev engine.Event) string {
	switch {
	case ev.Status == "" && ev.Message != "":
		return "did not answer: " + ev.Message
	case ev.Status == "":
		return "did not answer"
	case ev.Status == fleet.StatusOK && !ev.OK:
		// It answered ok but the type's check or expect rejected it.
		return "failed: " + ev.Message
	case ev.Status == fleet.StatusOK && ev.Message == "":
		return "ok"
	}
	return fmt.Sprintf("%s: %s", ev.Status, ev.Message)
}

// place puts every bar on the shared axis and marks the ticks.
func (tl *Timeline) place() {
	span := tl.End.Sub(tl.Start)
	if span < time.Millisecond {
		span = time.Millisecond
	}
	pos := func(b *Bar) {
		b.X = 100 * float64(b.from.Sub(tl.Start)) / float64(span)
		b.W = max(100*float64(b.to.Sub(b.from))/float64(span), 0.4)
		b.X = min(max(b.X, 0), 100-b.W)
	}
	for _, r := range tl.Rows {
		for i := range r.Bars {
			pos(&r.Bars[i])
		}
		for _, n := range r.Nodes {
			for i := range n.Bars {
				pos(&n.Bars[i])
			}
		}
	}
	for i := 0; i <= 4; i++ {
		tl.Ticks = append(tl.Ticks, Tick{X: float64(i) * 25, Label: "+" + elapsed(span*time.Duration(i)/4)})
	}
}
