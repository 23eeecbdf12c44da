package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
)

// rolloutCatalog rolls disable → deploy → enable (module.up) over nodes.w
// (w1..w5), batch by batch, then notify; hooks may be added by the test.
func rolloutCatalog(sizes []catalog.Size, maxFailed catalog.Size) *catalog.Catalog {
	const key = "module.up#batch"
	member := func(name string, deps ...string) *catalog.Resource {
		r := res(name, nil, deps...)
		r.Addr = "module.up.t." + name
		r.Rollout, r.NodeSets = "module.up", []string{key}
		r.Late.(*late).targets = func(res catalog.Resolved) ([]string, error) { return res[key], nil }
		for i, d := range deps {
			r.DependsOn[i] = "module.up." + d
		}
		return r
	}
	notify := res("notify", []string{"n1"}, "module.up.t.enable")
	return &catalog.Catalog{
		NodeSets: map[string]*catalog.NodeSet{"nodes.w": {Addr: "nodes.w", Filter: fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "w"}}}}},
		Rollouts: map[string]*catalog.Rollout{"module.up": {Addr: "module.up", NodeSet: "nodes.w", BatchKey: key, Batches: sizes, MaxFailed: maxFailed,
			Members: []string{"module.up.t.disable", "module.up.t.deploy", "module.up.t.enable"}}},
		Resources: []*catalog.Resource{member("disable"), member("deploy", "t.disable"), member("enable", "t.deploy"), notify},
	}
}

// failOn makes action fail on the given nodes.
func failOn(action string, nodes ...string) func(string, string, int) (fleet.Status, bool) {
	return func(node, a string, _ int) (fleet.Status, bool) {
		if a == action && slices.Contains(nodes, node) {
			return fleet.StatusAborted, false
		}
		return fleet.StatusOK, true
	}
}

func runCat(t *testing.T, f *fakeFleet, cat *catalog.Catalog, o engine.Options) (*engine.Report, []engine.Event) {
	t.Helper()
	var evs []engine.Event
	o.Events = func(e engine.Event) { evs = append(evs, e) }
	rep, err := engine.Run(context.Background(), cat, reg(), f, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep, evs
}

var fiveWeb = []string{"n1", "w1", "w2", "w3", "w4", "w5"}

func TestRolloutBatchesInOrder(t *testing.T) {
	f := &fakeFleet{nodes: fiveWeb}
	rep, evs := runCat(t, f, rolloutCatalog([]catalog.Size{{Count: 1}, {Count: 2}, {Percent: 100}}, catalog.Size{}), engine.Options{})
	if rep.Outcome != engine.OutcomeOK {
		t.Fatalf("%s: %s", rep.Summary(), outcomes(rep))
	}
	want := "disable@w1 deploy@w1 enable@w1 | disable@w2 disable@w3 deploy@w2 deploy@w3 enable@w2 enable@w3 | " +
		"disable@w4 disable@w5 deploy@w4 deploy@w5 enable@w4 enable@w5 | notify@n1"
	if got := phases(f.calls, [][]string{{"w1"}, {"w2", "w3"}, {"w4", "w5"}, {"n1"}}); got != want {
		t.Errorf("calls\n got %s\nwant %s", got, want)
	}
	var batches []string
	for _, e := range evs {
		if e.Type == engine.EventBatch {
			batches = append(batches, fmt.Sprintf("%d:%s", e.Batch, strings.Join(e.Nodes, ",")))
		}
	}
	if got := strings.Join(batches, " "); got != "1:w1 2:w2,w3 3:w4,w5" {
		t.Errorf("batch events %q", got)
	}
	if got := outcomes(rep); got != "module.up=ok module.up.t.disable=ok module.up.t.deploy=ok module.up.t.enable=ok t.notify=ok" {
		t.Errorf("outcomes %s", got)
	}
	if d := rep.Resources[2]; len(d.Nodes) != 5 || d.Changed != 5 || len(d.Batches) != 3 {
		t.Errorf("deploy summed over batches: %d nodes, %d changed, batches %v", len(d.Nodes), d.Changed, d.Batches)
	}
	if rep.Changed != 16 {
		t.Errorf("run changed %d, want 15 member calls + notify", rep.Changed)
	}
}

// phases renders calls grouped by which set of nodes they touch, in order,
// with " | " where the group changes: batches must not overlap.
func phases(calls []string, groups [][]string) string {
	var out []string
	cur := -1
	for _, c := range calls {
		node := c[strings.Index(c, "@")+1:]
		for g, nodes := range groups {
			if slices.Contains(nodes, node) && g != cur {
				if cur >= 0 {
					out = append(out, "|")
				}
				cur = g
			}
		}
		out = append(out, c)
	}
	return strings.Join(out, " ")
}

func TestRolloutCanaryFails(t *testing.T) {
	f := &fakeFleet{nodes: fiveWeb, behave: failOn("deploy", "w1")}
	cat := rolloutCatalog([]catalog.Size{{Count: 1}, {Percent: 50}}, catalog.Size{})
	hook := res("rollback", nil, "module.up.t.enable")
	hook.When, hook.NodeSets = catalog.WhenFailure, []string{"module.up#failed_nodes"}
	hook.Late.(*late).targets = func(res catalog.Resolved) ([]string, error) { return res["module.up#failed_nodes"], nil }
	cat.Resources = append(cat.Resources, hook)
	rep, _ := runCat(t, f, cat, engine.Options{})
	if rep.Outcome != engine.OutcomeFailed {
		t.Fatalf("outcome %s", rep.Outcome)
	}
	want := "disable@w1 deploy@w1 rollback@w1"
	if got := strings.Join(f.calls, " "); got != want {
		t.Errorf("calls %q, want %q: nothing after the canary", got, want)
	}
	ro := rep.Resources[0]
	if !strings.Contains(ro.Reason, "w1 (module.up.t.deploy: boom)") || strings.Join(ro.NotStarted, ",") != "w2,w3,w4,w5" {
		t.Errorf("rollout reason %q, not started %v", ro.Reason, ro.NotStarted)
	}
	if got := outcomes(rep); got != "module.up=failed module.up.t.disable=ok module.up.t.deploy=failed module.up.t.enable=skipped t.notify=skipped t.rollback=ok" {
		t.Errorf("outcomes %s", got)
	}
}

// Within the budget, failed nodes leave the rollout and the others go on;
// the run still fails (exit 1) but what follows the rollout runs.
func TestRolloutBudget(t *testing.T) {
	t.Run("within", func(t *testing.T) {
		f := &fakeFleet{nodes: fiveWeb, behave: failOn("deploy", "w2")}
		rep, _ := runCat(t, f, rolloutCatalog([]catalog.Size{{Count: 1}, {Count: 2}}, catalog.Size{Count: 1}), engine.Options{})
		if slices.Contains(f.calls, "enable@w2") || !slices.Contains(f.calls, "enable@w3") || !slices.Contains(f.calls, "enable@w5") {
			t.Errorf("w2 must leave the rollout, the others go on: %v", f.calls)
		}
		if rep.Outcome != engine.OutcomeFailed || !slices.Contains(f.calls, "notify@n1") {
			t.Errorf("outcome %s (want failed), notify ran %v", rep.Outcome, slices.Contains(f.calls, "notify@n1"))
		}
	})
	t.Run("exceeded", func(t *testing.T) {
		f := &fakeFleet{nodes: fiveWeb, behave: failOn("deploy", "w2", "w3")}
		rep, _ := runCat(t, f, rolloutCatalog([]catalog.Size{{Count: 1}, {Count: 2}}, catalog.Size{Percent: 20}), engine.Options{})
		for _, c := range f.calls {
			if strings.HasSuffix(c, "@w4") || strings.HasSuffix(c, "@w5") || c == "notify@n1" {
				t.Errorf("%s called after the budget was exceeded", c)
			}
		}
		ro := rep.Resources[0]
		if !strings.Contains(ro.Reason, "more than max_failed = 1") || strings.Join(ro.NotStarted, ",") != "w4,w5" {
			t.Errorf("reason %q not started %v", ro.Reason, ro.NotStarted)
		}
	})
}

// A failure hook that is not needed neither fails nor skips the run; a
// clean-up hook runs even after a graceful stop.
func TestHooks(t *testing.T) {
	t.Run("not needed", func(t *testing.T) {
		f := &fakeFleet{nodes: []string{"n1"}}
		hook := res("rollback", []string{"n1"}, "t.a")
		hook.When = catalog.WhenFailure
		rep := run(t, f, engine.Options{}, res("a", []string{"n1"}), hook)
		if rep.Outcome != engine.OutcomeOK || outcomes(rep) != "t.a=ok t.rollback=not_needed" || slices.Contains(f.calls, "rollback@n1") {
			t.Errorf("%s %s %v", rep.Outcome, outcomes(rep), f.calls)
		}
	})
	t.Run("always after stop", func(t *testing.T) {
		stop := make(chan struct{})
		f := &fakeFleet{nodes: []string{"n1"}, behave: func(_, action string, _ int) (fleet.Status, bool) {
			if action == "a" {
				close(stop)
			}
			return fleet.StatusOK, true
		}}
		cleanup := res("cleanup", []string{"n1"}, "t.b")
		cleanup.When = catalog.WhenAlways
		rep := run(t, f, engine.Options{Stop: stop, Parallelism: 1}, res("a", []string{"n1"}), res("b", []string{"n1"}, "t.a"), cleanup)
		if got := outcomes(rep); got != "t.a=ok t.b=skipped t.cleanup=ok" {
			t.Errorf("outcomes %s (calls %v)", got, f.calls)
		}
	})
}

// A canary that needs a confirmation stops the rollout when nobody can
// give it, and goes on when it is given.
func TestRolloutConfirm(t *testing.T) {
	for _, tc := range []struct {
		name    string
		confirm func(context.Context, string) bool
		calls   int
	}{
		{"nobody to ask", nil, 3},
		{"refused", func(context.Context, string) bool { return false }, 3},
		{"confirmed", func(context.Context, string) bool { return true }, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFleet{nodes: fiveWeb}
			cat := rolloutCatalog([]catalog.Size{{Count: 1}, {Percent: 100}}, catalog.Size{})
			cat.Rollouts["module.up"].Confirm = true
			runCat(t, f, cat, engine.Options{Confirm: tc.confirm})
			if len(f.calls) != tc.calls {
				t.Errorf("%d calls, want %d: %v", len(f.calls), tc.calls, f.calls)
			}
		})
	}
}

// A rollout stopped during its last batch does not pass for done.
func TestRolloutStoppedInLastBatch(t *testing.T) {
	stop := make(chan struct{})
	f := &fakeFleet{nodes: fiveWeb, behave: func(node, action string, _ int) (fleet.Status, bool) {
		if action == "deploy" && node == "w5" {
			close(stop)
		}
		return fleet.StatusOK, true
	}}
	rep, _ := runCat(t, f, rolloutCatalog([]catalog.Size{{Count: 4}, {Count: 1}}, catalog.Size{}), engine.Options{Stop: stop})
	ro := rep.Resources[0]
	if ro.Outcome != engine.OutcomeFailed || !strings.Contains(ro.Reason, "interrupted") || slices.Contains(f.calls, "enable@w5") {
		t.Errorf("rollout %s %q; calls %v", ro.Outcome, ro.Reason, f.calls)
	}
}

// What a noop member would change is not what the rollout changed.
func TestRolloutNoopMemberChangesNothing(t *testing.T) {
	f := &fakeFleet{nodes: fiveWeb}
	cat := rolloutCatalog([]catalog.Size{{Percent: 100}}, catalog.Size{})
	for _, r := range cat.Resources {
		r.NoOp = r.Rollout != ""
	}
	rep, _ := runCat(t, f, cat, engine.Options{})
	if ro := rep.Resources[0]; ro.Changed != 0 {
		t.Errorf("rollout of noop members changed %d nodes", ro.Changed)
	}
}
