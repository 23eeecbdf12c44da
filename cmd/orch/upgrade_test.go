package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/engine"
)

// buildOrchDeb builds a stand-in orch_VERSION_ARCH.deb (package "orch",
// one file) with dpkg-deb, as the package provider reads it.
func buildOrchDeb(t *testing.T, dir, version, arch string) string {
	t.Helper()
	for _, b := range []string{"dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("no %s on this machine", b)
		}
	}
	root := t.TempDir()
	files := map[string]string{
		"DEBIAN/control":             fmt.Sprintf("Package: orch\nVersion: %s\nArchitecture: %s\nMaintainer: test <test@localhost>\nDescription: stand-in for the upgrade test\n", version, arch),
		"usr/share/orch-test/README": "stand-in\n",
	}
	for path, text := range files {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, fmt.Sprintf("orch_%s_%s.deb", version, arch))
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	return deb
}

// TestUpgradeAgentsPlan plans examples/playbooks/upgrade-agents.hcl
// against a real in-process fleet of five agents serving the package
// agent (a .deb in their deb_dirs): the rollout's batches and, per node,
// the package agent's no-op install of that file and the ping that waits
// for the agent. Nothing is installed or restarted: see docs/operations.md.
func TestUpgradeAgentsPlan(t *testing.T) {
	debDir := t.TempDir()
	arch := runtime.GOARCH // Go's and Debian's names agree for amd64 and arm64
	deb := buildOrchDeb(t, debDir, "9.9.9", arch)
	ids := map[string]string{"agent1": "a", "agent2": "a", "agent3": "a", "agent4": "a", "agent5": "a"}
	f := startFleet(t, ids, func(string) string {
		return fmt.Sprintf("provider \"package\" { deb_dirs = [%q] }\n", debDir)
	})
	pb := "../../examples/playbooks/upgrade-agents.hcl"
	vars := []string{"-var", "version=9.9.9", "-var", "arch=" + arch, "-var", "deb_dir=" + debDir}
	if code, _, errOut := f.orch(append([]string{"validate", pb}, vars...)...); code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, errOut)
	}
	code, out, errOut := f.orch(append([]string{"plan", pb, "-json"}, vars...)...)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	evs := events(t, out)
	var batches []string
	for _, ev := range find(evs, engine.EventBatch, "module.upgrade") {
		batches = append(batches, strings.Join(ev.Nodes, ","))
	}
	// [1, "25%", "50%"] of 5 nodes: 1, 2 (25% rounded up), 3 (50%) for the 2 left.
	if got, want := strings.Join(batches, " "), "agent1 agent2,agent3 agent4,agent5"; got != want {
		t.Errorf("batches %q, want %q", got, want)
	}
	tests := map[string]struct {
		resource string
		changed  bool
	}{
		"install": {"module.upgrade.package_install.orch", true},
		"wait":    {"module.upgrade.rpcutil_ping.back", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var nodes []string
			for _, ev := range find(evs, engine.EventNodeResult, tt.resource) {
				nodes = append(nodes, ev.Node)
				if !ev.OK || ev.Changed != boolInt(tt.changed) {
					t.Errorf("%s on %s: ok %v, changed %d (%q); want ok, changed %v", tt.resource, ev.Node, ev.OK, ev.Changed, ev.Message, tt.changed)
				}
			}
			slices.Sort(nodes)
			if got := strings.Join(nodes, ","); got != "agent1,agent2,agent3,agent4,agent5" {
				t.Errorf("%s answered on %q, want every agent", tt.resource, got)
			}
		})
	}
	// The human plan names the file each node would install, read from
	// the .deb by the package agent (dpkg-deb), and what each has now.
	_, human, _ := f.orch(append([]string{"plan", pb}, vars...)...)
	if n := strings.Count(human, "would install "+deb+" (now "); n != 5 {
		t.Errorf("the plan names the .deb %d times, want once per node:\n%s", n, human)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
