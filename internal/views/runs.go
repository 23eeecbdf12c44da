package views

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
)

// Runs is the view of orch runs list and show: the run history.
type Runs interface {
	// List renders run records, newest first.
	List(recs []*history.Record) error
	// Show renders a run: its record, then its events as apply printed
	// them, every node's result included.
	Show(rec *history.Record, evs []engine.Event) error
}

// NewRuns returns the view of orch runs: JSON, or text for people.
func NewRuns(vt ViewType, v *View) Runs {
	if vt == JSON {
		return runsJSON{v}
	}
	return runsHuman{v}
}

type runsJSON struct{ v *View }

func (j runsJSON) List(recs []*history.Record) error {
	if recs == nil {
		recs = []*history.Record{}
	}
	return j.v.JSON(recs)
}

func (j runsJSON) Show(rec *history.Record, evs []engine.Event) error {
	if evs == nil {
		evs = []engine.Event{}
	}
	return j.v.JSON(struct {
		Record *history.Record `json:"record"`
		Events []engine.Event  `json:"events"`
	}{rec, evs})
}

type runsHuman struct{ v *View }

func (h runsHuman) List(recs []*history.Record) error {
	tw := tabwriter.NewWriter(h.v.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tCOMMAND\tPLAYBOOK\tOUTCOME\tBY\tTOOK")
	for _, r := range recs {
		took := ""
		if r.Elapsed > 0 {
			took = elapsed(r.Elapsed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Started.UTC().Format("2006-01-02 15:04:05Z"), r.Command, r.Playbook, r.Outcome, r.Caller.Name, took)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(h.v.stderr, "\n%d run(s)\n", len(recs))
	return nil
}

func (h runsHuman) Show(rec *history.Record, evs []engine.Event) error {
	w := h.v.stdout
	fmt.Fprintf(w, "run %s: orch %s %s\n", rec.ID, rec.Command, rec.Playbook)
	fmt.Fprintf(w, "  by:      %s (%s)\n", rec.Caller.Name, rec.Caller.Key)
	fmt.Fprintf(w, "  started: %s\n", rec.Started.UTC().Format(time.RFC3339))
	if !rec.Ended.IsZero() {
		fmt.Fprintf(w, "  ended:   %s (%s)\n", rec.Ended.UTC().Format(time.RFC3339), elapsed(rec.Elapsed))
	}
	fmt.Fprintf(w, "  outcome: %s\n", rec.Outcome)
	if rec.Error != "" {
		fmt.Fprintf(w, "  error:   %s\n", rec.Error)
	}
	if rec.Digest != "" {
		fmt.Fprintf(w, "  digest:  sha256:%s\n", rec.Digest)
	}
	for _, v := range rec.Vars {
		fmt.Fprintf(w, "  var.%s = %s\n", v.Name, v.Value)
	}
	fmt.Fprintln(w)
	rv := newRunHuman(w, RunOptions{Playbook: rec.Playbook, NoOp: rec.NoOp, Verbose: true})
	for _, ev := range evs {
		rv.Event(ev)
	}
	return nil
}
