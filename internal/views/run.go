package views

import (
	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
)

// Run is the view of orch apply and orch plan: the engine's events as they
// happen, notices (signals), then the result of the run.
type Run interface {
	// Event renders one engine event; it is the engine's event callback
	// (engine.Options.Events).
	Event(ev engine.Event)
	// Notice renders an out-of-band message, such as a signal received.
	// Safe to call concurrently with Event.
	Notice(msg string)
	// Close stops what the view draws on its own (the live block); call it
	// once the run has returned, before Result.
	Close()
	// Result renders the end of the run: for a plan, what apply would do.
	Result(cat *catalog.Catalog, rep *engine.Report)
}

// RunOptions say what a run view shows.
type RunOptions struct {
	Playbook string // the playbook's path, named in the first line
	NoOp     bool   // a plan: nothing is changed
	Verbose  bool   // human: a line per node result, not only failures
	// Live, for the human view, draws a block of the running resources
	// that redraws itself (a terminal); otherwise every line is
	// timestamped (CI logs).
	Live bool
}

// NewRun returns the view of a run: JSON lines of events, or the human
// view (live or plain timestamped lines).
func NewRun(vt ViewType, v *View, o RunOptions) Run {
	if vt == JSON {
		return &runJSON{w: v.stdout}
	}
	return newRunHuman(v.stdout, o)
}
