package views

import (
	"fmt"
	"io"
	"strings"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
)

// writePlan prints what apply would do, in the order of the report: what
// the engine decided (targets, any-one, the batches it made, each node's
// no-op answer) and, from the catalog resource of the same address, what
// only the playbook says (dependencies, retry, the pause between batches).
func writePlan(w io.Writer, cat *catalog.Catalog, rep *engine.Report) {
	byAddr := make(map[string]*catalog.Resource, len(cat.Resources))
	for _, r := range cat.Resources {
		byAddr[r.Addr] = r
	}
	fmt.Fprintf(w, "\nPlan: what apply would do (nothing was changed)\n\n")
	problems := 0
	for i, rr := range rep.Resources {
		problems += writePlanStep(w, i+1, rr, byAddr[rr.Addr])
	}
	fmt.Fprintf(w, "\nPlan: %d resource(s); %d node change(s) would be made; %d problem(s) found now.\n", len(rep.Resources), rep.Changed, problems)
}

// writePlanStep prints step n of the plan and returns the problems found;
// r is nil when the catalog has no resource of that address.
func writePlanStep(w io.Writer, n int, rr *engine.ResourceReport, r *catalog.Resource) (problems int) {
	call := rr.Agent + "." + rr.Action
	if rr.Agent == "" {
		call = rr.Type
	}
	fmt.Fprintf(w, "%2d. %s  (%s)\n", n, rr.Addr, call)
	if r != nil && len(r.DependsOn) > 0 {
		fmt.Fprintf(w, "    after: %s\n", strings.Join(r.DependsOn, ", "))
	}
	switch {
	case rr.Outcome == engine.OutcomeSkipped:
		fmt.Fprintf(w, "    %s\n", rr.Reason)
		return 0
	case rr.Targets == nil && rr.Outcome == engine.OutcomeFailed:
		fmt.Fprintf(w, "    cannot plan: %s\n", rr.Reason)
		return 1
	}
	fmt.Fprintf(w, "    %s\n", planHow(rr, r))
	if r != nil && r.Retry.Enabled() {
		fmt.Fprintf(w, "    retried%s\n", retryText(r.Retry))
	}
	for _, nr := range rr.Nodes {
		switch {
		case nr.NoAnswer:
			problems++
			fmt.Fprintf(w, "    %-12s did not answer\n", nr.Identity)
		case !nr.OK:
			problems++
			fmt.Fprintf(w, "    %-12s would fail now: %s\n", nr.Identity, nr.Message)
		case nr.Changed:
			fmt.Fprintf(w, "    %-12s would change%s\n", nr.Identity, colonMsg(nr.Message))
		}
	}
	if rr.Unchanged > 0 {
		fmt.Fprintf(w, "    %d node(s) already right or read-only\n", rr.Unchanged)
	}
	return problems
}

// planHow says on which nodes a step runs: any one of them, in the batches
// the engine made (more than one), or all at once.
func planHow(rr *engine.ResourceReport, r *catalog.Resource) string {
	switch {
	case rr.AnyOne:
		return fmt.Sprintf("on any one of %d node(s): %s", len(rr.Targets), strings.Join(rr.Targets, ", "))
	case len(rr.Batches) > 1:
		bs := make([]string, len(rr.Batches))
		for i, b := range rr.Batches {
			bs[i] = "[" + strings.Join(b, " ") + "]"
		}
		how := fmt.Sprintf("in %d batches of %d: %s", len(bs), len(rr.Batches[0]), strings.Join(bs, " "))
		if r != nil && r.BatchSleep > 0 {
			how += fmt.Sprintf(", %s apart", r.BatchSleep)
		}
		return how
	}
	return fmt.Sprintf("on %d node(s): %s", len(rr.Targets), strings.Join(rr.Targets, ", "))
}
