package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/node"
)

// TestSystemFacts: an agent's registry entry carries the built-in facts
// (nested, reachable by dotted filters) and its facts.d facts under its
// configured ones; a reload collects facts.d again.
func TestSystemFacts(t *testing.T) {
	s := natstest.Start(t)
	kp, pub := newKey(t)
	dir := t.TempDir()
	factsD := filepath.Join(dir, "facts.d")
	if err := os.Mkdir(factsD, 0o755); err != nil {
		t.Fatal(err)
	}
	site := writeFile(t, filepath.Join(factsD, "site.txt"), "rack=r1\nteam=ops\n")
	if err := os.WriteFile(filepath.Join(factsD, "app"), []byte("#!/bin/sh\necho '{\"app\": {\"tier\": \"gold\"}}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	reload := runNodeIn(t, fmt.Sprintf(`
identity = "sys1"
servers  = [%q]
data_dir = %q
facts    = { team = "web", os = { custom = "yes" } }
client "ops" { key = %q }
system_facts {
  dir     = "facts.d"
  refresh = "1h"
}
`, natstest.URL(s), dir, pub), dir)
	c := client(t, natstest.URL(s), kp, "tester")
	f := func(fact, op, value string) fleet.FactFilter {
		return fleet.FactFilter{Fact: fact, Op: op, Value: value}
	}
	nodes := waitNodes(t, c, fleet.Filter{Facts: []fleet.FactFilter{
		f("kernel.name", "==", "Linux"), f("cpu.count", ">=", "1"), f("memory.total_mb", ">", "0"),
		f("rack", "==", "r1"), f("app.tier", "==", "gold"), f("team", "==", "web"), f("os.custom", "==", "yes"),
	}}, 1)
	facts := nodes[0].Facts
	osFacts, ok := facts["os"].(map[string]any)
	if !ok || osFacts["arch"] == nil {
		t.Fatalf("os facts %v: want a map with arch (and the config's custom merged in)", facts["os"])
	}
	for _, name := range []string{"networking", "system", "kernel", "cpu", "memory"} {
		if _, ok := facts[name].(map[string]any); !ok {
			t.Errorf("fact %s = %v, want a map", name, facts[name])
		}
	}
	t.Logf("registry facts: %v", facts)

	writeFile(t, site, "rack=r2\n")
	reload()
	waitNodes(t, c, fleet.Filter{Facts: []fleet.FactFilter{f("rack", "==", "r2"), f("kernel.name", "==", "Linux")}}, 1)
}

func TestSystemFactsConfigErrors(t *testing.T) {
	tests := map[string]struct{ config, want string }{
		"bad refresh":     {`system_facts { refresh = "often" }`, `refresh = "often" is not a positive duration`},
		"unknown setting": {`system_facts { colour = "red" }`, "Unsupported argument"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(t.TempDir(), "node.hcl"), tt.config)
			_, diags := node.LoadConfig(path)
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
				t.Fatalf("diags %q, want %q", diags.Error(), tt.want)
			}
		})
	}
}

// runNodeIn runs a node from a config written in dir; the function it
// returns is SIGHUP.
func runNodeIn(t *testing.T, config, dir string) (reload func()) {
	t.Helper()
	cfg, diags := node.LoadConfig(writeFile(t, filepath.Join(dir, "node.hcl"), config))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	n, diags := node.New(cfg, node.Options{Version: "test"})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := n.Run(ctx, hup); err != nil {
			t.Errorf("node run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func() { hup <- struct{}{} }
}
