package views

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/orch-fleet/orch/engine"
)

// liveBlock is the part of the human run view a terminal redraws: a line
// per running resource with its progress. Its methods are no-ops on a nil
// block (the plain view) and are called with runHuman.mu held.
type liveBlock struct {
	running map[string]*liveResource
	drawn   int // lines of the block currently on screen
	stopTk  chan struct{}
	tkDone  chan struct{}
}

// liveResource is a running resource in the live block.
type liveResource struct {
	started time.Time
	total   int
	done    int
	failed  int
	attempt int
	call    string
}

func newLiveBlock() *liveBlock {
	return &liveBlock{running: map[string]*liveResource{}, stopTk: make(chan struct{}), tkDone: make(chan struct{})}
}

// tick redraws the live block so elapsed times move, until Close.
func (h *runHuman) tick() {
	defer close(h.live.tkDone)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-h.live.stopTk:
			return
		case <-t.C:
			h.mu.Lock()
			h.live.clear(h.w)
			h.live.draw(h.w)
			h.mu.Unlock()
		}
	}
}

// stop stops the ticker and waits for it.
func (b *liveBlock) stop() {
	close(b.stopTk)
	<-b.tkDone
}

// track updates the running resources from an event.
func (b *liveBlock) track(ev engine.Event) {
	switch ev.Type {
	case engine.EventResourceStart:
		lr := &liveResource{started: ev.Time, total: len(ev.Nodes), attempt: 1, call: ev.Agent + "." + ev.Action}
		if ev.Agent == "" {
			lr.call = "rollout"
		}
		if ev.AnyOne {
			lr.total = 1
		}
		b.running[ev.Resource] = lr
	case engine.EventNodeResult:
		if lr := b.running[ev.Resource]; lr != nil {
			lr.done++
			if !ev.OK {
				lr.failed++
			}
		}
	case engine.EventResourceRetry:
		if lr := b.running[ev.Resource]; lr != nil {
			lr.attempt = ev.Attempt
			lr.done, lr.failed = lr.total-len(ev.Nodes), 0
		}
	case engine.EventResourceEnd:
		delete(b.running, ev.Resource)
	}
}

// clear erases the block.
func (b *liveBlock) clear(w io.Writer) {
	if b != nil && b.drawn > 0 {
		fmt.Fprintf(w, "\x1b[%dA\x1b[J", b.drawn)
		b.drawn = 0
	}
}

// draw prints the block: one line per running resource.
func (b *liveBlock) draw(w io.Writer) {
	if b == nil || len(b.running) == 0 {
		return
	}
	addrs := make([]string, 0, len(b.running))
	for a := range b.running {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	now := time.Now()
	for _, a := range addrs {
		lr := b.running[a]
		extra := ""
		if lr.failed > 0 {
			extra += fmt.Sprintf(", %d failing", lr.failed)
		}
		if lr.attempt > 1 {
			extra += fmt.Sprintf(", attempt %d", lr.attempt)
		}
		fmt.Fprintf(w, "  ... %s %s: %d/%d node(s)%s, %s\n", a, lr.call, lr.done, lr.total, extra, now.Sub(lr.started).Round(100*time.Millisecond))
		b.drawn++
	}
}
