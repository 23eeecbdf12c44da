package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/engine"
)

// rolloutModule is rolled over a batch: a check of the node's state, then
// a second step.
const rolloutModule = `
variable "servers" { type = list(string) }
resource "nrpe_check" "state" {
  targets = var.servers
  command = "check_state"
}
resource "rpcutil_ping" "after" {
  targets    = var.servers
  depends_on = [nrpe_check.state]
}
`

// rolloutPlaybook rolls the module over cluster alfa (web1..web3): a
// canary, then the rest; the failed nodes are named to a failure hook and
// a clean-up always runs.
const rolloutPlaybook = `
variable "max_failed" {
  type    = number
  default = 0
}
variable "confirm" {
  type    = bool
  default = false
}
nodes "alfa" {
  fact = { cluster = "alfa" }
}
module "up" {
  source  = "./modules/up"
  servers = rollout.batch
  rollout {
    nodes      = nodes.alfa
    batches    = [1, "100%"]
    max_failed = var.max_failed
    confirm    = var.confirm
  }
}
resource "rpcutil_ping" "rescue" {
  targets    = module.up.failed_nodes
  when       = "failure"
  depends_on = [module.up]
}
resource "rpcutil_ping" "cleanup" {
  targets    = nodes.alfa
  when       = "always"
  depends_on = [module.up]
}
`

func TestApplyRollout(t *testing.T) {
	f, _, setState := applyFleet(t)
	dir := filepath.Join(f.dir, "rolling")
	if err := os.MkdirAll(filepath.Join(dir, "modules", "up"), 0o755); err != nil {
		t.Fatal(err)
	}
	pb := filepath.Join(dir, "main.hcl")
	for path, text := range map[string]string{pb: rolloutPlaybook, filepath.Join(dir, "modules", "up", "main.hcl"): rolloutModule} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// nodesOf lists the nodes a resource's node_result events name.
	nodesOf := func(evs []engine.Event, resource string) string {
		var ids []string
		for _, ev := range find(evs, engine.EventNodeResult, resource) {
			ids = append(ids, ev.Node)
		}
		slices.Sort(ids)
		return strings.Join(ids, ",")
	}
	t.Run("batches in order", func(t *testing.T) {
		code, out, errOut := f.orch("apply", pb, "-json")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		evs := events(t, out)
		var batches []string
		for _, ev := range find(evs, engine.EventBatch, "module.up") {
			batches = append(batches, strings.Join(ev.Nodes, ","))
		}
		if strings.Join(batches, " ") != "web1 web2,web3" {
			t.Fatalf("batches %v", batches)
		}
		// Every result of batch 1 comes before anything of batch 2 starts.
		var lastOf1, firstOf2 int
		for i, ev := range evs {
			switch {
			case ev.Batch == 1:
				lastOf1 = i
			case ev.Batch == 2 && firstOf2 == 0:
				firstOf2 = i
			}
		}
		if firstOf2 == 0 || lastOf1 > firstOf2 {
			t.Errorf("batch 1 ends at event %d, batch 2 starts at %d: they overlap", lastOf1, firstOf2)
		}
		if got := nodesOf(evs, "module.up.rpcutil_ping.after"); got != "web1,web2,web3" {
			t.Errorf("second step ran on %q", got)
		}
		if got := nodesOf(evs, "rpcutil_ping.rescue"); got != "" {
			t.Errorf("the failure hook ran on %q though nothing failed", got)
		}
	})
	t.Run("canary fails", func(t *testing.T) {
		setState("web1", 2)
		defer setState("web1", 0)
		code, out, _ := f.orch("apply", pb, "-json")
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		evs := events(t, out)
		if got := nodesOf(evs, "module.up.nrpe_check.state"); got != "web1" {
			t.Errorf("checked %q: nothing past the canary may be touched", got)
		}
		if got := nodesOf(evs, "rpcutil_ping.rescue"); got != "web1" {
			t.Errorf("the failure hook ran on %q, want the failed canary", got)
		}
		if got := nodesOf(evs, "rpcutil_ping.cleanup"); got != "web1,web2,web3" {
			t.Errorf("clean-up ran on %q", got)
		}
	})
	t.Run("within the budget", func(t *testing.T) {
		setState("web2", 2)
		defer setState("web2", 0)
		code, out, _ := f.orch("apply", pb, "-json", "-var", "max_failed=1")
		if code != 1 {
			t.Fatalf("exit %d, want 1: a node failed", code)
		}
		evs := events(t, out)
		if got := nodesOf(evs, "module.up.rpcutil_ping.after"); got != "web1,web3" {
			t.Errorf("second step ran on %q: web2 leaves the rollout, the others go on", got)
		}
		if got := nodesOf(evs, "rpcutil_ping.rescue"); got != "web2" {
			t.Errorf("the failure hook ran on %q, want web2", got)
		}
	})
	t.Run("confirmation", func(t *testing.T) {
		code, out, errOut := f.orch("apply", pb, "-json", "-var", "confirm=true")
		if code != 1 || nodesOf(events(t, out), "module.up.nrpe_check.state") != "web1" || !strings.Contains(out+errOut, "nobody can give it") {
			t.Errorf("no terminal, no --yes: exit %d, want 1 after the canary alone\n%s", code, errOut)
		}
		code, out, errOut = f.orch("apply", pb, "-json", "-var", "confirm=true", "--yes")
		if code != 0 || nodesOf(events(t, out), "module.up.nrpe_check.state") != "web1,web2,web3" {
			t.Errorf("--yes: exit %d, want every node\n%s", code, errOut)
		}
	})
	t.Run("plan", func(t *testing.T) {
		code, out, errOut := f.orch("plan", pb)
		if code != 0 || !strings.Contains(out, "module.up") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
	})
}

// A node set that finds nothing fails the run, naming what the fleet has
// that is closest.
func TestApplyEmptyNodeSetSuggests(t *testing.T) {
	f, _, _ := applyFleet(t)
	pb := filepath.Join(f.dir, "typo.hcl")
	text := "nodes \"web\" {\n  fact = { cluster = \"alpha\" }\n}\nresource \"rpcutil_ping\" \"web\" {\n  targets = nodes.web\n}\n"
	if err := os.WriteFile(pb, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := f.orch("apply", pb)
	if code != 1 || !strings.Contains(out+errOut, "did you mean cluster=alfa?") || !strings.Contains(out+errOut, "min = 0") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}
