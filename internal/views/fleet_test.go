package views

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/call"
	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleetops"
	"github.com/orch-fleet/orch/internal/golden"
)

// fixtureCall is a call on three nodes: one ok with data, one failed, one
// not answering.
func fixtureCall() ([]*fleet.Reply, *fleetops.Summary) {
	replies := []*fleet.Reply{
		{Identity: "web2", Status: fleet.StatusAborted, Message: "no such fact"},
		{Identity: "web1", Status: fleet.StatusOK, Data: json.RawMessage(`{"value":"alfa"}`), Changed: true},
	}
	res := &call.Result{Nodes: []*call.NodeResult{
		{Identity: "web1", Reply: replies[1], OK: true}, {Identity: "web2", Reply: replies[0]}, {Identity: "web3", NoAnswer: true}}}
	sum := fleetops.Summarize("rpcutil", "get_fact", 3, res, nil, 1234*time.Millisecond)
	sum.Replies[0].RTT, sum.Replies[1].RTT = 1500*time.Microsecond, 2500*time.Microsecond
	return replies, sum
}

func TestCallViews(t *testing.T) {
	tests := map[string]func(ViewType, *View) Call{
		"ping":      NewPing,
		"ping_json": func(_ ViewType, v *View) Call { return NewPing(JSON, v) },
		"rpc":       NewRPC,
		"rpc_json":  func(_ ViewType, v *View) Call { return NewRPC(JSON, v) },
	}
	for name, newView := range tests {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			cv := newView(Human, NewView(&out, &out))
			replies, sum := fixtureCall()
			for i, r := range replies {
				cv.Reply(r, time.Duration(i+1)*time.Millisecond)
			}
			if err := cv.Summary(sum); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "call/"+name+".golden", out.String())
		})
	}
}

func TestDescribeViews(t *testing.T) {
	lo, hi := 1.0, 10.0
	agent := &ddl.Agent{Name: "appmgr", Version: "1.2", Description: "application releases", Actions: []*ddl.Action{
		{Name: "status", Description: "the current release"},
		{Name: "deploy", Mutates: true, Inputs: []ddl.Input{
			{Name: "revision", Type: "string", Description: "git revision", Required: true, Pattern: "^[a-z0-9.]+$", MaxLength: 40},
			{Name: "keep", Type: "integer", Default: 3, Min: &lo, Max: &hi},
			{Name: "mode", Type: "string", Enum: []string{"atomic", "inplace"}},
		}, Outputs: []ddl.Output{{Name: "previous", Type: "string", Description: "the release before"}}},
	}}
	for name, vt := range map[string]ViewType{"describe": Human, "describe_json": JSON} {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			if err := NewDescribe(vt, NewView(&out, &out)).Agent(agent); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "call/"+name+".golden", out.String())
		})
	}
}

func TestNodeViews(t *testing.T) {
	nodes := []fleet.NodeInfo{
		{Identity: "web1", Facts: map[string]any{"cluster": "alfa", "os": map[string]any{"family": "debian", "release": "12"}}},
		{Identity: "web2", Facts: map[string]any{"cluster": "alfa", "os": map[string]any{"family": "debian", "release": "11"}}},
		{Identity: "lb1", Facts: map[string]any{"os": map[string]any{"family": "redhat"}}},
	}
	for name, vt := range map[string]ViewType{"": Human, "_json": JSON} {
		t.Run("discover"+name, func(t *testing.T) {
			var out, errb strings.Builder
			if err := NewDiscover(vt, NewView(&out, &errb)).Nodes(nodes); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "nodes/discover"+name+".golden", out.String()+"-- stderr --\n"+errb.String())
		})
		// orch facts on a leaf, a dotted name and a map (one report per leaf).
		for file, fact := range map[string]string{"facts": "cluster", "facts_dotted": "os.family", "facts_map": "os"} {
			t.Run(file+name, func(t *testing.T) {
				var out strings.Builder
				if err := NewFacts(vt, NewView(&out, &out)).Reports(fact, fleetops.FactReports(nodes, fact), len(nodes)); err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "nodes/"+file+name+".golden", out.String())
			})
		}
	}
}
