package orch_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the layering of docs/architecture.md: the data-only
// catalog and the engine link neither HCL nor NATS, the shared vocabulary
// is a leaf, and the binary does not depend on examples.
func TestImportGraph(t *testing.T) {
	tests := map[string][]string{
		"./catalog":      {"hashicorp/hcl", "nats-io/"},
		"./engine":       {"hashicorp/hcl", "nats-io/"},
		"./call":         {"hashicorp/hcl", "nats-io/"},
		"./fleet":        {"hashicorp/hcl", "nats-io/", "orch-fleet/orch/"},
		"./internal/dag": {"orch-fleet/orch/"},
		"./playbook":     {"nats-io/"},
		"./history":      {"hashicorp/hcl"},
		"./cmd/orch":     {"orch-fleet/orch/examples"},
	}
	for pkg, banned := range tests {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
			}
			self := "github.com/orch-fleet/orch/" + strings.TrimPrefix(pkg, "./")
			for _, dep := range strings.Fields(string(out)) {
				for _, b := range banned {
					if strings.Contains(dep, b) && dep != self {
						t.Errorf("%s depends on %s", pkg, dep)
					}
				}
			}
		})
	}
}
