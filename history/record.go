package history

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/orch-fleet/orch/engine"
)

// Outcome of a run: the engine's outcomes, plus OutcomeRunning while a run
// goes on (and forever for a run whose process died).
const OutcomeRunning engine.Outcome = "running"

// Record is what is kept of a run besides its events.
type Record struct {
	ID       string     `json:"id"`
	Command  string     `json:"command"` // apply or plan
	Playbook string     `json:"playbook"`
	Digest   string     `json:"digest,omitempty"` // SHA-256 of the playbook's files
	Vars     []Variable `json:"vars,omitempty"`
	Caller   Caller     `json:"caller"`
	NoOp     bool       `json:"noop,omitempty"`
	// Steps are the resource instances of the catalog and their
	// dependencies: the graph of the run.
	Steps   []Step         `json:"steps,omitempty"`
	Started time.Time      `json:"started"`
	Ended   time.Time      `json:"ended,omitzero"`
	Outcome engine.Outcome `json:"outcome"`
	// Error says why a run could not start (the run lock was held, …).
	Error     string        `json:"error,omitempty"`
	Summary   string        `json:"summary,omitempty"`
	Changed   int           `json:"changed"`
	Unchanged int           `json:"unchanged"`
	Failed    int           `json:"failed"`
	NoAnswer  int           `json:"no_answer"`
	Skipped   int           `json:"skipped"`
	Elapsed   time.Duration `json:"elapsed_ns,omitempty"`
}

// Variable is a root variable of the playbook: its value as JSON, or
// "(sensitive)" for a variable marked sensitive.
type Variable struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Caller is who ran a run: the public key it signed with and its name
// (user@host, or the SDK's Options.Name).
type Caller struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

// Step is a resource instance of the run's catalog.
type Step struct {
	Addr      string   `json:"addr"`
	Type      string   `json:"type"`
	DependsOn []string `json:"depends_on,omitempty"`
}

// NewID returns a run ID for a run started at t: sortable by start time
// ("20261125T091201123456Z-3fa1c2"), unique in practice, and a single subject
// token.
func NewID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	t = t.UTC()
	return fmt.Sprintf("%s%06dZ-%s", t.Format("20060102T150405"), t.Nanosecond()/1e3, hex.EncodeToString(b[:]))
}

// end completes the record from the report of a run, or from the error
// of a run that could not start.
func (r *Record) end(rep *engine.Report, err error, now time.Time) {
	r.Ended = now
	r.Elapsed = now.Sub(r.Started)
	if rep == nil {
		r.Outcome = engine.OutcomeFailed
		if err != nil {
			r.Error = err.Error()
		}
		return
	}
	r.Outcome = rep.Outcome
	r.Summary = rep.Summary()
	r.Changed, r.Unchanged, r.Failed, r.NoAnswer, r.Skipped = rep.Changed, rep.Unchanged, rep.Failed, rep.NoAnswer, rep.Skipped
	r.Elapsed = rep.Elapsed
}
