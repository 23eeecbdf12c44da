//go:build chaos

package chaos

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orch-fleet/orch/engine"
)

// expect is what a run must have done.
type expect struct {
	codes   []int    // allowed exit codes
	named   []string // nodes the run must name (failed, no answer or not started)
	mayName []string // nodes it may name besides
	stderr  string   // a regexp stderr must match ("" = anything)
	killed  bool     // the apply itself was killed: only the fleet's state is checked
}

// verify checks a finished run against e and the invariants every run
// keeps; it returns what is wrong (nil: a correct outcome).
func (f *chaosFleet) verify(r *run, e expect) []string {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, r.id+": "+fmt.Sprintf(format, args...)) }
	if !e.killed && !slices.Contains(e.codes, r.code) {
		add("exit %d, want one of %v (%s)", r.code, e.codes, r.summary())
	}
	if e.stderr != "" && !regexp.MustCompile(e.stderr).MatchString(r.stderr.String()) {
		add("stderr does not match %q: %s", e.stderr, strings.TrimSpace(r.stderr.String()))
	}
	if n := f.deliveries(r.id); n > 1 || (r.resource(notifyRes) != nil && r.resource(notifyRes).Outcome == engine.OutcomeOK && n != 1) {
		add("notification delivered %d times (resource: %v)", n, outcomeOf(r.resource(notifyRes)))
	}
	if e.killed || r.code == 2 || !r.heldLock() {
		return bad
	}
	if r.report == nil {
		return append(bad, r.id+": no report")
	}
	if (r.code == 0) != (r.report.Outcome == engine.OutcomeOK) {
		add("exit %d with outcome %s", r.code, r.report.Outcome)
	}
	named := r.named()
	for _, id := range e.named {
		if !slices.Contains(named, id) {
			add("%s not named (named: %v)", id, named)
		}
	}
	for _, id := range named {
		if !slices.Contains(e.named, id) && !slices.Contains(e.mayName, id) {
			add("%s named, unexpectedly: %s", id, r.why(id))
		}
	}
	return append(bad, f.checkDeploy(r, named)...)
}

// named are the nodes the run named: those with a result that is not ok
// in any resource, and those of batches never started.
func (r *run) named() []string {
	var out []string
	for _, ev := range r.eventsOf() {
		if ev.Type == engine.EventNodeResult && !ev.OK && ev.Resource != notifyRes && !slices.Contains(out, ev.Node) {
			out = append(out, ev.Node)
		}
	}
	if rr := r.resource(deployRes); rr != nil {
		for _, id := range rr.NotStarted {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// why says what the run said of node id.
func (r *run) why(id string) string {
	var says []string
	for _, ev := range r.eventsOf() {
		if ev.Type == engine.EventNodeResult && ev.Node == id {
			says = append(says, fmt.Sprintf("%s: %s %s", ev.Resource, ev.Status, ev.Message))
		}
	}
	if rr := r.resource(deployRes); rr != nil && slices.Contains(rr.NotStarted, id) {
		says = append(says, deployRes+": not started")
	}
	return strings.Join(says, "; ")
}

// checkDeploy checks the deploy resource's accounting against the nodes'
// disk: every target is ok, named or not started, exactly once; a node
// reported ok runs the revision, verified; a node not started is as it
// was; and no node is left changed or half-done without being named.
func (f *chaosFleet) checkDeploy(r *run, named []string) []string {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, r.id+": "+fmt.Sprintf(format, args...)) }
	rr := r.resource(deployRes)
	if rr == nil {
		return []string{r.id + ": no report of " + deployRes}
	}
	ok := map[string]bool{}
	for _, nr := range rr.Nodes {
		ok[nr.Identity] = nr.OK
	}
	for _, id := range rr.NotStarted {
		if _, called := ok[id]; called {
			add("%s both called and not started", id)
		}
	}
	for _, id := range f.apps {
		now, was := f.state(id), r.before[id]
		_, called := ok[id]
		switch {
		case rr.Outcome == engine.OutcomeSkipped || slices.Contains(rr.NotStarted, id):
			if now != was && !slices.Contains(named, id) {
				add("%s changed from %v to %v though not called, and not named", id, was, now)
			}
		case !called && slices.Contains(rr.Targets, id):
			add("%s a target, neither called nor named as not started", id)
		case ok[id] && (now.revision != r.revision || now.unverified):
			add("%s reported ok but runs %v, want %s", id, now, r.revision)
		case !ok[id] && called && !slices.Contains(named, id):
			add("%s failed without being named", id)
		case now.unverified && !slices.Contains(named, id):
			add("%s left half-done (%v) without being named", id, now)
		}
	}
	return bad
}

func outcomeOf(rr *engine.ResourceReport) string {
	if rr == nil {
		return "none"
	}
	return string(rr.Outcome)
}

// heldLock reports whether the run took the run lock: it started walking
// (a run that could not take the lock prints no event).
func (r *run) heldLock() bool {
	return len(r.eventsOf()) > 0 && !strings.Contains(r.stderr.String(), "is held by")
}

// walked is when the run walked its catalog: from run_start to its last
// resource_end, a span the run lock covers (taken before run_start,
// released after the last resource ended and before run_end — when the
// release's answer is slow, e.g. while a broker fails over, run_end can
// come seconds after the lock was gone). A run without events (killed,
// refused) spans its process (r.end: or when its lock was seen gone).
func (r *run) walked() (from, to time.Time) {
	from, to = r.start, r.end
	for _, ev := range r.eventsOf() {
		switch ev.Type {
		case engine.EventRunStart:
			from = ev.Time
		case engine.EventResourceEnd:
			if !r.killed {
				to = ev.Time
			}
		}
	}
	return from, to
}
