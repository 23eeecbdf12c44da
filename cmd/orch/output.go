package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
)

// runOutput renders the events of a run: JSON lines (-json), a live view on
// a terminal, or plain timestamped lines (CI logs).
type runOutput struct {
	mu      sync.Mutex
	w       io.Writer
	json    bool
	live    bool
	verbose bool
	noop    bool
	path    string

	running map[string]*liveResource
	drawn   int // lines of the live block currently on screen
	stopTk  chan struct{}
	tkDone  chan struct{}
}

// liveResource is a running resource in the live view.
type liveResource struct {
	started time.Time
	total   int
	done    int
	failed  int
	attempt int
	call    string
}

func newRunOutput(e *env, rf *runFlags, path string, noop bool) *runOutput {
	o := &runOutput{w: e.stdout, json: rf.cf.json, verbose: rf.verbose, noop: noop, path: path, running: map[string]*liveResource{}}
	if f, ok := e.stdout.(*os.File); ok && !o.json && !rf.plain && term.IsTerminal(int(f.Fd())) && e.getenv("TERM") != "dumb" {
		o.live = true
		o.stopTk, o.tkDone = make(chan struct{}), make(chan struct{})
		go o.ticker()
	}
	return o
}

// ticker redraws the live block so elapsed times move.
func (o *runOutput) ticker() {
	defer close(o.tkDone)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-o.stopTk:
			return
		case <-t.C:
			o.mu.Lock()
			o.clear()
			o.draw()
			o.mu.Unlock()
		}
	}
}

// close stops the live view.
func (o *runOutput) close() {
	if o.live {
		close(o.stopTk)
		<-o.tkDone
		o.mu.Lock()
		o.clear()
		o.mu.Unlock()
	}
}

// notice prints an out-of-band message (signals).
func (o *runOutput) notice(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		b, _ := json.Marshal(map[string]any{"type": "notice", "time": time.Now(), "message": msg})
		fmt.Fprintf(o.w, "%s\n", b)
		return
	}
	o.clear()
	o.line(time.Now(), msg)
	o.draw()
}

// event renders one engine event.
func (o *runOutput) event(ev engine.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		b, err := json.Marshal(ev)
		if err == nil {
			fmt.Fprintf(o.w, "%s\n", b)
		}
		return
	}
	switch ev.Type {
	case engine.EventResourceStart:
		o.running[ev.Resource] = &liveResource{started: ev.Time, total: len(ev.Nodes), attempt: 1, call: ev.Agent + "." + ev.Action}
		if ev.AnyOne {
			o.running[ev.Resource].total = 1
		}
	case engine.EventNodeResult:
		if lr := o.running[ev.Resource]; lr != nil {
			lr.done++
			if !ev.OK {
				lr.failed++
			}
		}
	case engine.EventResourceRetry:
		if lr := o.running[ev.Resource]; lr != nil {
			lr.attempt = ev.Attempt
			lr.done, lr.failed = lr.total-len(ev.Nodes), 0
		}
	case engine.EventResourceEnd:
		delete(o.running, ev.Resource)
	}
	text := o.describe(ev)
	if text == "" && ev.Type == engine.EventNodeResult {
		// A node answering only moves a counter: the ticker redraws, so a
		// thousand replies do not mean a thousand redraws.
		return
	}
	o.clear()
	if text != "" {
		o.line(ev.Time, text)
	}
	o.draw()
}

// line prints a permanent line: timestamped when plain.
func (o *runOutput) line(t time.Time, text string) {
	if o.live {
		fmt.Fprintln(o.w, text)
		return
	}
	fmt.Fprintf(o.w, "%s %s\n", t.Format("15:04:05.000"), text)
}

// describe is the permanent line of an event, "" for none.
func (o *runOutput) describe(ev engine.Event) string {
	switch ev.Type {
	case engine.EventRunStart:
		verb := "apply"
		if o.noop {
			verb = "plan (no-op: nothing will be changed)"
		}
		return fmt.Sprintf("%s %s: %d resource instance(s)", verb, o.path, ev.Resources)
	case engine.EventNodeSet:
		filter := ""
		if ev.Message != "" {
			filter = " [" + ev.Message + "]"
		}
		return fmt.Sprintf("%s: %d node(s)%s: %s", ev.NodeSet, len(ev.Nodes), filter, shortList(ev.Nodes, 20))
	case engine.EventResourceStart:
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
		return fmt.Sprintf("%s: %s.%s %s", ev.Resource, ev.Agent, ev.Action, how)
	case engine.EventNodeResult:
		switch {
		case ev.Status == "":
			return fmt.Sprintf("%s: %s did not answer%s", ev.Resource, ev.Node, attemptText(ev.Attempt))
		case !ev.OK && ev.Status == fleet.StatusOK:
			// It answered ok but the type's check or expect rejected it.
			return fmt.Sprintf("%s: %s failed%s: %s", ev.Resource, ev.Node, attemptText(ev.Attempt), ev.Message)
		case !ev.OK:
			return fmt.Sprintf("%s: %s failed%s: %s: %s", ev.Resource, ev.Node, attemptText(ev.Attempt), ev.Status, ev.Message)
		case o.verbose:
			what := "ok"
			if ev.Changed > 0 {
				what = "changed"
				if o.noop {
					what = "would change"
				}
			}
			return fmt.Sprintf("%s: %s %s%s (%s)", ev.Resource, ev.Node, what, colonMsg(ev.Message), elapsed(ev.Elapsed))
		}
	case engine.EventResourceRetry:
		return fmt.Sprintf("%s: attempt %d: %s: %s", ev.Resource, ev.Attempt, ev.Message, shortList(ev.Nodes, 10))
	case engine.EventResourceEnd:
		counts := fmt.Sprintf("%d changed, %d unchanged", ev.Changed, ev.Unchanged)
		if ev.NoOp || o.noop {
			counts = fmt.Sprintf("%d would change, %d unchanged", ev.Changed, ev.Unchanged)
		}
		if ev.Failed > 0 {
			counts += fmt.Sprintf(", %d failed", ev.Failed)
		}
		if ev.NoAnswer > 0 {
			counts += fmt.Sprintf(", %d no answer", ev.NoAnswer)
		}
		switch ev.Outcome {
		case engine.OutcomeSkipped:
			return fmt.Sprintf("%s: %s", ev.Resource, ev.Message)
		case engine.OutcomeFailed:
			tag := "FAILED"
			if ev.FailOK {
				tag = "failed (fail_ok)"
			}
			return fmt.Sprintf("%s: %s in %s (%s): %s", ev.Resource, tag, elapsed(ev.Elapsed), counts, ev.Message)
		default:
			extra := ""
			if ev.Message != "" {
				extra = ": " + ev.Message
			}
			return fmt.Sprintf("%s: ok in %s (%s)%s", ev.Resource, elapsed(ev.Elapsed), counts, extra)
		}
	case engine.EventRunEnd:
		tag := "OK"
		if ev.Outcome != engine.OutcomeOK {
			tag = "FAILED"
		}
		if o.noop {
			tag = "PLAN " + tag
		}
		return fmt.Sprintf("%s: %s in %s", tag, ev.Summary, elapsed(ev.Elapsed))
	}
	return ""
}

func attemptText(a int) string {
	if a > 1 {
		return fmt.Sprintf(" (attempt %d)", a)
	}
	return ""
}

// shortList joins ids, eliding the middle of long lists.
func shortList(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n-2], ", ") + fmt.Sprintf(", ... (%d more), ", len(ids)-n+1) + ids[len(ids)-1]
}

// clear erases the live block.
func (o *runOutput) clear() {
	if o.live && o.drawn > 0 {
		fmt.Fprintf(o.w, "\x1b[%dA\x1b[J", o.drawn)
		o.drawn = 0
	}
}

// draw prints the live block: one line per running resource.
func (o *runOutput) draw() {
	if !o.live || len(o.running) == 0 {
		return
	}
	addrs := make([]string, 0, len(o.running))
	for a := range o.running {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	now := time.Now()
	for _, a := range addrs {
		lr := o.running[a]
		extra := ""
		if lr.failed > 0 {
			extra += fmt.Sprintf(", %d failing", lr.failed)
		}
		if lr.attempt > 1 {
			extra += fmt.Sprintf(", attempt %d", lr.attempt)
		}
		fmt.Fprintf(o.w, "  ... %s %s: %d/%d node(s)%s, %s\n", a, lr.call, lr.done, lr.total, extra, now.Sub(lr.started).Round(100*time.Millisecond))
		o.drawn++
	}
}
