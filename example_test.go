package orch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/orch-fleet/orch"
)

// The examples run against a real fleet that TestMain starts: an embedded
// broker and three in-process nodes (web1, web2: cluster alfa; web3: bravo),
// reached through ORCH_SERVER and ORCH_KEY as a program would be.

func connect() *orch.Fleet {
	fleet, err := orch.Connect(context.Background(), orch.Options{
		Servers: []string{os.Getenv("ORCH_SERVER")},
		KeyFile: os.Getenv("ORCH_KEY"),
	})
	if err != nil {
		panic(err)
	}
	return fleet
}

// Discover nodes by fact.
func ExampleFleet_Discover() {
	fleet := connect()
	defer fleet.Close()
	nodes, err := fleet.Discover(context.Background(), orch.Filter{Facts: orch.Facts("cluster=alfa")})
	if err != nil {
		panic(err)
	}
	fmt.Println(nodes)
	// Output: [web1 web2]
}

// Call an action on a node set and read every node's reply.
func ExampleFleet_Call() {
	fleet := connect()
	defer fleet.Close()
	res, err := fleet.Call(context.Background(), orch.Call{
		Agent: "rpcutil", Action: "get_fact", Input: map[string]any{"fact": "cluster"},
		Filter: orch.Filter{Identities: []string{"/^web/"}},
	})
	if err != nil {
		panic(err)
	}
	for _, id := range res.Succeeded() {
		var out struct{ Value string }
		if err := res.Decode(id, &out); err != nil {
			panic(err)
		}
		fmt.Println(id, out.Value, res.Nodes[id].Reply.Status)
	}
	// Output:
	// web1 alfa ok
	// web2 alfa ok
	// web3 bravo ok
}

// Run a Nagios check, retrying the failing nodes, and branch on the result.
func ExampleFleet_Call_retry() {
	fleet := connect()
	defer fleet.Close()
	res, err := fleet.Call(context.Background(), orch.Call{
		Agent: "nrpe", Action: "run", Input: map[string]any{"command": "check_load"},
		Filter: orch.Filter{Facts: orch.Facts("cluster=alfa")},
		Check:  orch.NagiosOK,
		Retry:  orch.Retry{Attempts: 3, Interval: 100 * time.Millisecond},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("healthy:", res.Succeeded())
	for _, id := range res.Failed() {
		fmt.Printf("still failing on %s after %d attempts: %s\n", id, res.Nodes[id].Attempts, res.Nodes[id].Err)
	}
	// Output:
	// healthy: [web1]
	// still failing on web2 after 3 attempts: CRITICAL (exit 2): CRITICAL - load average: 31.00, 12.00, 5.00
}

// Apply a playbook and follow its events.
func ExampleFleet_Apply() {
	fleet := connect()
	defer fleet.Close()
	dir, _ := os.MkdirTemp("", "orch-example")
	defer os.RemoveAll(dir)
	playbook := filepath.Join(dir, "ping.hcl")
	_ = os.WriteFile(playbook, []byte(`
variable "cluster" { type = string }
nodes "web" {
  fact = { cluster = var.cluster }
}
resource "rpcutil_ping" "web" {
  targets = nodes.web
}
`), 0o644)
	rep, err := fleet.Apply(context.Background(), playbook, orch.ApplyOptions{
		Vars: []string{"cluster=bravo"},
		OnEvent: func(ev orch.Event) {
			if ev.Type == "resource_end" {
				fmt.Println(ev.Resource, ev.Outcome, ev.Unchanged, "node(s)")
			}
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("run:", rep.Outcome, rep.NodeSets["nodes.web"])
	// Output:
	// rpcutil_ping.web ok 1 node(s)
	// run: ok [web3]
}
