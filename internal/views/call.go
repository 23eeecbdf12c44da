package views

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleetops"
)

// Call is the view of orch ping and orch rpc: each reply as it arrives,
// then the summary of the call.
type Call interface {
	// Reply renders a node's reply as it arrives, rtt after the call was
	// sent. Safe for concurrent use.
	Reply(r *fleet.Reply, rtt time.Duration)
	// Summary renders the whole call.
	Summary(s *fleetops.Summary) error
}

// NewPing returns the view of orch ping: a human line per reply as it
// arrives, then the summary block.
func NewPing(vt ViewType, v *View) Call {
	if vt == JSON {
		return callJSON{v}
	}
	return &callHuman{w: v.stdout, stream: true}
}

// NewRPC returns the view of orch rpc: every reply (with its data) and the
// summary block at the end.
func NewRPC(vt ViewType, v *View) Call {
	if vt == JSON {
		return callJSON{v}
	}
	return &callHuman{w: v.stdout}
}

// callJSON writes the summary as one JSON document.
type callJSON struct{ v *View }

func (callJSON) Reply(*fleet.Reply, time.Duration) {}

func (j callJSON) Summary(s *fleetops.Summary) error { return j.v.JSON(s) }

// callHuman prints replies and an mco-style summary block.
type callHuman struct {
	mu     sync.Mutex
	w      io.Writer
	stream bool // a line per reply as it arrives (ping); else replies in the summary
}

func (h *callHuman) Reply(r *fleet.Reply, rtt time.Duration) {
	if !h.stream {
		return
	}
	status := fmt.Sprintf("time=%.2f ms", ms(rtt))
	if !r.OK() {
		status = fmt.Sprintf("%s: %s", r.Status, r.Message)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.w, "%-40s %s\n", r.Identity, status)
}

func (h *callHuman) Summary(s *fleetops.Summary) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stream {
		for _, r := range s.Replies {
			fmt.Fprintf(h.w, "%-30s %s", r.Identity, r.Status)
			if r.Changed {
				fmt.Fprint(h.w, " (changed)")
			}
			if r.Message != "" {
				fmt.Fprintf(h.w, ": %s", r.Message)
			}
			fmt.Fprintln(h.w)
			if len(r.Data) > 0 && string(r.Data) != "null" {
				fmt.Fprintf(h.w, "    %s\n", r.Data)
			}
		}
	}
	writeCallSummary(h.w, s)
	return nil
}

// writeCallSummary prints the summary block: answers, round-trip times,
// failed and missing nodes.
func writeCallSummary(w io.Writer, s *fleetops.Summary) {
	var lo, hi, total time.Duration
	n := 0
	for _, r := range s.Replies {
		if r.RTT == 0 {
			continue
		}
		if n == 0 || r.RTT < lo {
			lo = r.RTT
		}
		hi = max(hi, r.RTT)
		total += r.RTT
		n++
	}
	fmt.Fprintf(w, "\n---- %s.%s summary ----\n", s.Agent, s.Action)
	fmt.Fprintf(w, "%d/%d nodes answered OK", len(s.Replies)-len(s.Failed), s.Discovered)
	if n > 0 {
		fmt.Fprintf(w, ", min/avg/max %.2f/%.2f/%.2f ms", ms(lo), ms(total/time.Duration(n)), ms(hi))
	}
	fmt.Fprintf(w, ", %s in all\n", s.Elapsed.Round(time.Millisecond))
	if len(s.Failed) > 0 {
		fmt.Fprintf(w, "failed: %s\n", strings.Join(s.Failed, ", "))
	}
	if len(s.Missing) > 0 {
		fmt.Fprintf(w, "no answer: %s\n", strings.Join(s.Missing, ", "))
	}
	if s.DroppedReplies > 0 {
		fmt.Fprintf(w, "dropped: %d replies that were not the nodes' own (unsigned, badly signed or answering as another node): someone on the bus forges replies\n", s.DroppedReplies)
	}
	writeVanished(w, s.Vanished)
}

// writeVanished prints a line per node missing from the registry.
func writeVanished(w io.Writer, vs []fleetops.Vanished) {
	for _, v := range vs {
		fmt.Fprintf(w, "missing: %s (missing since %s: left the registry without stopping)\n", v.Identity, v.MissingSince.Local().Format(time.RFC3339))
	}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var (
	_ Call = callJSON{}
	_ Call = (*callHuman)(nil)
)
