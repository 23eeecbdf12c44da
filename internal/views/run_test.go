package views

import (
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/golden"
)

// t0 is the start of the fixture run.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// fixtureCatalog lists the resources in another order than the report
// does: views look them up by address.
func fixtureCatalog() *catalog.Catalog {
	return &catalog.Catalog{Resources: []*catalog.Resource{
		{Addr: "angelia_notify.admin", Type: "angelia_notify", AnyOne: true, DependsOn: []string{"appmgr_deploy.app"}},
		{Addr: "appmgr_deploy.app", Type: "appmgr_deploy", BatchSize: 2, BatchSleep: 5 * time.Second, DependsOn: []string{"rpcutil_ping.web"},
			Retry: catalog.Retry{Attempts: 3, Interval: time.Second}},
		{Addr: "rpcutil_ping.web", Type: "rpcutil_ping"},
		{Addr: "nrpe_check.load", Type: "nrpe_check", DependsOn: []string{"appmgr_deploy.app"}},
		{Addr: "rpc.broken", Type: "rpc"},
	}}
}

// fixtureReport is what the engine decided for fixtureCatalog in no-op
// mode.
func fixtureReport() *engine.Report {
	web := []string{"web1", "web2", "web3"}
	return &engine.Report{Outcome: engine.OutcomeFailed, NoOp: true, Changed: 2, Started: t0, Elapsed: 1500 * time.Millisecond,
		Resources: []*engine.ResourceReport{
			{Addr: "rpcutil_ping.web", Type: "rpcutil_ping", Agent: "rpcutil", Action: "ping", Outcome: engine.OutcomeOK, Targets: web, Unchanged: 3,
				Nodes: []*engine.NodeResult{{Identity: "web1", OK: true}, {Identity: "web2", OK: true}, {Identity: "web3", OK: true}}},
			{Addr: "appmgr_deploy.app", Type: "appmgr_deploy", Agent: "appmgr", Action: "deploy", Outcome: engine.OutcomeFailed, Targets: web,
				Batches: [][]string{{"web1", "web2"}, {"web3"}}, Changed: 2, Failed: 1,
				Nodes: []*engine.NodeResult{
					{Identity: "web1", OK: true, Changed: true, Message: "v1 -> v2"},
					{Identity: "web2", OK: true, Changed: true, Message: "v1 -> v2"},
					{Identity: "web3", Status: fleet.StatusAborted, Message: "disk full"},
				}},
			{Addr: "nrpe_check.load", Type: "nrpe_check", Agent: "nrpe", Action: "run", Outcome: engine.OutcomeOK, Targets: web,
				Batches: [][]string{web}, Unchanged: 2, NoAnswer: 1,
				Nodes: []*engine.NodeResult{{Identity: "web1", OK: true}, {Identity: "web2", OK: true}, {Identity: "web3", NoAnswer: true}}},
			{Addr: "angelia_notify.admin", Type: "angelia_notify", Agent: "angelia", Action: "notify", Outcome: engine.OutcomeOK,
				Targets: []string{"notify1", "notify2"}, AnyOne: true, Unchanged: 1, Nodes: []*engine.NodeResult{{Identity: "notify2", OK: true}}},
			{Addr: "rpc.broken", Type: "rpc", Outcome: engine.OutcomeFailed, Reason: `node set "nodes.gone": no nodes matched`},
			{Addr: "rpc.later", Type: "rpc", Outcome: engine.OutcomeSkipped, Reason: "skipped: rpc.broken failed"},
		}}
}

// fixtureEvents is a run of two resources: one with a retry, a failure and
// a node not answering, one skipped.
func fixtureEvents() []engine.Event {
	web := []string{"web1", "web2", "web3"}
	return []engine.Event{
		{Type: engine.EventRunStart, Time: at(0), Resources: 2},
		{Type: engine.EventNodeSet, Time: at(1), NodeSet: "nodes.web", Nodes: web, Message: "fact cluster==alfa"},
		{Type: engine.EventResourceStart, Time: at(2), Resource: "nrpe_check.load", Agent: "nrpe", Action: "run", Nodes: web, BatchSize: 2},
		{Type: engine.EventNodeResult, Time: at(10), Resource: "nrpe_check.load", Node: "web1", Status: fleet.StatusOK, OK: true, Attempt: 1, Elapsed: 8 * time.Millisecond},
		{Type: engine.EventNodeResult, Time: at(11), Resource: "nrpe_check.load", Node: "web2", Status: fleet.StatusOK, OK: true, Changed: 1, Message: "reloaded", Attempt: 1, Elapsed: 9 * time.Millisecond},
		{Type: engine.EventNodeResult, Time: at(12), Resource: "nrpe_check.load", Node: "web3", Status: "CRITICAL (exit 2)", Message: "load 9.1", Attempt: 1},
		{Type: engine.EventResourceRetry, Time: at(13), Resource: "nrpe_check.load", Attempt: 2, Nodes: []string{"web3"}, Message: "1 of 3 node(s) failed"},
		{Type: engine.EventNodeResult, Time: at(1200), Resource: "nrpe_check.load", Node: "web3", Attempt: 2},
		{Type: engine.EventResourceEnd, Time: at(1201), Resource: "nrpe_check.load", Outcome: engine.OutcomeFailed, Changed: 1, Unchanged: 1, NoAnswer: 1,
			Message: "1 of 3 node(s) did not answer: web3", Elapsed: 1199 * time.Millisecond},
		{Type: engine.EventResourceEnd, Time: at(1202), Resource: "rpc.after", Outcome: engine.OutcomeSkipped, Message: "skipped: nrpe_check.load failed"},
		{Type: engine.EventRunEnd, Time: at(1203), Outcome: engine.OutcomeFailed, Summary: "2 resource(s): 0 ok, 1 failed, 1 skipped", Elapsed: 1203 * time.Millisecond},
	}
}

func TestRunViews(t *testing.T) {
	tests := map[string]struct {
		vt ViewType
		o  RunOptions
	}{
		"apply":         {Human, RunOptions{Playbook: "deploy.hcl"}},
		"apply_verbose": {Human, RunOptions{Playbook: "deploy.hcl", Verbose: true}},
		"apply_json":    {JSON, RunOptions{Playbook: "deploy.hcl"}},
		"plan":          {Human, RunOptions{Playbook: "deploy.hcl", NoOp: true}},
		"plan_json":     {JSON, RunOptions{Playbook: "deploy.hcl", NoOp: true}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errb strings.Builder
			rv := NewRun(tt.vt, NewView(&out, &errb), tt.o)
			for _, ev := range fixtureEvents() {
				rv.Event(ev)
			}
			rv.Close()
			rv.Result(fixtureCatalog(), fixtureReport())
			if errb.Len() > 0 {
				t.Errorf("stderr: %q", errb.String())
			}
			golden.Check(t, "run/"+name+".golden", out.String())
		})
	}
}

// TestPlanUsesTheEngineBatches checks that the plan shows the batches the
// engine reports, not batches recomputed from the catalog's batch size.
func TestPlanUsesTheEngineBatches(t *testing.T) {
	rep := fixtureReport()
	rep.Resources[1].Batches = [][]string{{"web3"}, {"web1", "web2"}}
	var out strings.Builder
	writePlan(&out, fixtureCatalog(), rep)
	if want := "in 2 batches of 1: [web3] [web1 web2], 5s apart"; !strings.Contains(out.String(), want) {
		t.Errorf("plan lacks %q:\n%s", want, out.String())
	}
}
