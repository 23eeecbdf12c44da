package views

import (
	"bytes"
	"testing"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/golden"
)

// fixtureRun is a recorded run: a ping, then a batched check that fails
// on web2 in its first attempt and passes in the second, then a skipped
// step behind a failed one.
func fixtureRun() (history.Record, []engine.Event) {
	t0 := time.Date(2026, 11, 25, 9, 12, 1, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	rec := history.Record{ID: "20261125T091201000000Z-abcdef", Command: "apply", Playbook: "deploy.hcl", Digest: "0123abcd",
		Vars:   []history.Variable{{Name: "cluster", Value: `"alfa"`}, {Name: "token", Value: `"(sensitive)"`, Sensitive: true}},
		Caller: history.Caller{Key: "UABC", Name: "alice@ops1"}, Started: t0, Ended: at(900), Outcome: engine.OutcomeFailed,
		Summary: "3 resource(s): 1 ok, 1 failed, 1 skipped", Elapsed: 900 * time.Millisecond,
		Steps: []history.Step{{Addr: "rpcutil_ping.web", Type: "rpcutil_ping"}, {Addr: "nrpe_check.load", Type: "nrpe_check", DependsOn: []string{"rpcutil_ping.web"}},
			{Addr: "rpc.after", Type: "rpc", DependsOn: []string{"nrpe_check.load"}}}}
	web := []string{"web1", "web2", "web3"}
	evs := []engine.Event{
		{Type: engine.EventRunStart, Time: at(0), Resources: 3},
		{Type: engine.EventResourceStart, Time: at(10), Resource: "rpcutil_ping.web", Agent: "rpcutil", Action: "ping", Nodes: web},
		{Type: engine.EventNodeResult, Time: at(20), Resource: "rpcutil_ping.web", Node: "web1", Status: fleet.StatusOK, OK: true, Attempt: 1},
		{Type: engine.EventNodeResult, Time: at(21), Resource: "rpcutil_ping.web", Node: "web2", Status: fleet.StatusOK, OK: true, Attempt: 1},
		{Type: engine.EventNodeResult, Time: at(22), Resource: "rpcutil_ping.web", Node: "web3", Status: fleet.StatusOK, OK: true, Attempt: 1},
		{Type: engine.EventResourceEnd, Time: at(22), Resource: "rpcutil_ping.web", Outcome: engine.OutcomeOK, Unchanged: 3},
		{Type: engine.EventResourceStart, Time: at(30), Resource: "nrpe_check.load", Agent: "nrpe", Action: "run", Nodes: web, BatchSize: 2},
		{Type: engine.EventNodeResult, Time: at(100), Resource: "nrpe_check.load", Node: "web1", Status: fleet.StatusOK, OK: true, Attempt: 1, Message: "OK"},
		{Type: engine.EventNodeResult, Time: at(120), Resource: "nrpe_check.load", Node: "web2", Status: fleet.StatusOK, Attempt: 1, Message: "CRITICAL (exit 2): load 31"},
		{Type: engine.EventNodeResult, Time: at(200), Resource: "nrpe_check.load", Node: "web3", Attempt: 1, Message: "no answer"},
		{Type: engine.EventResourceRetry, Time: at(200), Resource: "nrpe_check.load", Attempt: 2, Nodes: []string{"web2", "web3"}, Message: "2 node(s) still failing; retrying in 500ms"},
		{Type: engine.EventNodeResult, Time: at(700), Resource: "nrpe_check.load", Node: "web2", Status: fleet.StatusOK, OK: true, Attempt: 2, Changed: 1},
		{Type: engine.EventNodeResult, Time: at(880), Resource: "nrpe_check.load", Node: "web3", Attempt: 2},
		{Type: engine.EventResourceEnd, Time: at(880), Resource: "nrpe_check.load", Outcome: engine.OutcomeFailed, Message: "1 of 3 node(s) failed: web3 (no answer)", Failed: 1},
		{Type: engine.EventResourceEnd, Time: at(880), Resource: "rpc.after", Outcome: engine.OutcomeSkipped, Message: "skipped: nrpe_check.load failed"},
		{Type: engine.EventRunEnd, Time: at(900), Outcome: engine.OutcomeFailed, Summary: "3 resource(s): 1 ok, 1 failed, 1 skipped"},
	}
	return rec, evs
}

func TestRunRenderings(t *testing.T) {
	rec, evs := fixtureRun()
	tests := map[string]func(*View) error{
		"report.html.golden": func(v *View) error {
			b, err := ReportHTML(rec, evs)
			v.stdout.Write(b)
			return err
		},
		"show.golden":      func(v *View) error { return NewRuns(Human, v).Show(&rec, evs) },
		"show.json.golden": func(v *View) error { return NewRuns(JSON, v).Show(&rec, evs) },
		"list.golden":      func(v *View) error { return NewRuns(Human, v).List([]*history.Record{&rec}) },
		"list.json.golden": func(v *View) error { return NewRuns(JSON, v).List([]*history.Record{&rec}) },
	}
	for name, render := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := render(NewView(&out, &errb)); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "runs/"+name, out.String())
		})
	}
}

func TestTimeline(t *testing.T) {
	rec, evs := fixtureRun()
	tl := NewTimeline(rec, evs)
	var order []string
	for _, r := range tl.Rows {
		order = append(order, r.Addr+"="+r.Outcome)
	}
	if got, want := order, []string{"nrpe_check.load=failed", "rpcutil_ping.web=ok", "rpc.after=skipped"}; !equal(got, want) {
		t.Errorf("rows %v, want %v (failures first)", got, want)
	}
	check := tl.Rows[0]
	var bars []string
	for _, b := range check.Bars {
		bars = append(bars, b.Label+"="+b.Outcome)
	}
	if want := []string{"batch 1=failed", "batch 2=failed", "attempt 2=failed"}; !equal(bars, want) {
		t.Errorf("check bars %v, want %v", bars, want)
	}
	if n := check.Nodes[1]; n.Identity != "web2" || len(n.Bars) != 2 || n.Outcome != "changed" || n.Bars[0].Tip != "web2, attempt 1, 0s: failed: CRITICAL (exit 2): load 31" {
		t.Errorf("web2: %+v", n)
	}
	if b := check.Nodes[2].Bars[0]; b.X < 10 || b.X > 15 {
		t.Errorf("web3's first bar starts at %.1f%%, want where batch 2 starts (after web1 and web2 answered)", b.X)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
