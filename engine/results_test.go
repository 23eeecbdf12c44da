package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/resources"
)

// A resource's run results (changed_nodes, ok_nodes, failed_nodes) choose
// the targets of later resources, also through a module; a noop resource
// only says what would change.
func TestResultsDriveTargets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.hcl", `
nodes "web" {
  fact = { cluster = "a" }
}
resource "rpc" "pending" {
  targets = nodes.web
  agent   = "a"
  action  = "check"
  noop    = true
}
module "fix" {
  source  = "./mod"
  servers = rpc.pending.changed_nodes
}
resource "rpc" "after" {
  targets    = rpc.pending.ok_nodes
  agent      = "a"
  action     = "after"
  depends_on = [module.fix]
}
`)
	write("mod/main.hcl", `
variable "servers" {
  type = list(string)
}
resource "rpc" "fix" {
  targets = var.servers
  agent   = "a"
  action  = "fix"
}
`)
	cat, diags := playbook.Load(dir, resources.Builtin(), playbook.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		name     string
		outdated []string
		fixed    []string
		changed  int
	}{
		{"two outdated", []string{"a1", "a3"}, []string{"a1", "a3"}, 2 + 3},
		{"none outdated", nil, nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFleet{nodes: []string{"a1", "a2", "a3", "b1"}, behave: func(node, action string, _ int) (fleet.Status, bool) {
				if action == "check" {
					return fleet.StatusOK, slices.Contains(tc.outdated, node)
				}
				return fleet.StatusOK, true
			}}
			rep, err := engine.Run(context.Background(), cat, resources.Builtin(), f, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Outcome != engine.OutcomeOK {
				t.Fatalf("outcome %s: %s", rep.Outcome, rep.Summary())
			}
			var fixed, after []string
			for _, c := range f.calls {
				action, node, _ := strings.Cut(c, "@")
				switch action {
				case "fix":
					fixed = append(fixed, node)
				case "after":
					after = append(after, node)
				}
			}
			slices.Sort(fixed)
			slices.Sort(after)
			if strings.Join(fixed, ",") != strings.Join(tc.fixed, ",") || strings.Join(after, ",") != "a1,a2,a3" {
				t.Fatalf("fix on %v, after on %v", fixed, after)
			}
			// The noop check changed nothing: only fix and after count.
			if rep.Changed != tc.changed {
				t.Fatalf("changed %d, want %d (%s)", rep.Changed, tc.changed, rep.Summary())
			}
		})
	}
}

// Referring to a result attribute that does not exist is a compile error.
func TestUnknownResultAttribute(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.hcl")
	_ = os.WriteFile(p, []byte(`
resource "rpcutil_ping" "a" {}
resource "rpcutil_ping" "b" {
  targets = rpcutil_ping.a.changed_nodez
}
`), 0o644)
	_, diags := playbook.Load(p, resources.Builtin(), playbook.LoadOptions{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "changed_nodez") {
		t.Fatalf("got %v", diags)
	}
}

// Without targets a resource means every node serving its agent: none at
// all fails it (a broken fleet), while an explicitly empty target list is
// a success with nothing to do.
func TestImplicitTargetsMustExist(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.hcl")
	_ = os.WriteFile(p, []byte(`
resource "rpc" "nobody" {
  agent  = "zzz"
  action = "x"
}
resource "rpc" "nothing" {
  targets = []
  agent   = "zzz"
  action  = "x"
}
`), 0o644)
	cat, diags := playbook.Load(p, resources.Builtin(), playbook.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rep, err := engine.Run(context.Background(), cat, resources.Builtin(), &fakeFleet{nodes: []string{"a1"}}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]*engine.ResourceReport{}
	for _, rr := range rep.Resources {
		byAddr[rr.Addr] = rr
	}
	if rr := byAddr["rpc.nobody"]; rr.Outcome != engine.OutcomeFailed || !strings.Contains(rr.Reason, "no node serves the zzz agent") {
		t.Errorf("nobody: %+v", rr)
	}
	if rr := byAddr["rpc.nothing"]; rr.Outcome != engine.OutcomeOK || rr.Reason != "no target nodes" {
		t.Errorf("nothing: %+v", rr)
	}
}
