package playbook_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/resources"
)

// genPlaybook writes a playbook of n resources, each depending on up to
// three random earlier ones (half by reference, half by depends_on).
func genPlaybook(tb testing.TB, n int) string {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, uint64(n)))
	var b strings.Builder
	b.WriteString("variable \"cluster\" {\n  type    = string\n  default = \"alfa\"\n}\n")
	b.WriteString("nodes \"web\" {\n  fact = { cluster = var.cluster }\n}\n")
	for i := 0; i < n; i++ {
		var deps []string
		for k := 0; k < 3 && i > 0; k++ {
			if r.IntN(2) == 0 {
				deps = append(deps, fmt.Sprintf("rpc.r%d", r.IntN(i)))
			}
		}
		fmt.Fprintf(&b, "resource \"rpc\" \"r%d\" {\n  targets = nodes.web\n  agent   = \"rpcutil\"\n  action  = \"get_fact\"\n", i)
		if len(deps) > 0 && i%2 == 0 {
			fmt.Fprintf(&b, "  inputs  = { fact = \"cluster\", after = %s.action }\n", deps[0])
			deps = deps[1:]
		} else {
			b.WriteString("  inputs  = { fact = \"cluster\" }\n")
		}
		if len(deps) > 0 {
			fmt.Fprintf(&b, "  depends_on = [%s]\n", strings.Join(deps, ", "))
		}
		b.WriteString("}\n")
	}
	path := filepath.Join(tb.TempDir(), "gen.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkCompile compiles generated playbooks of 1,000 and 10,000
// resources with random dependencies; compare the two for the growth.
func BenchmarkCompile(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			path := genPlaybook(b, n)
			reg := resources.Builtin()
			for b.Loop() {
				cat, diags := playbook.Load(path, reg, playbook.LoadOptions{})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if len(cat.Resources) != n {
					b.Fatalf("%d resources", len(cat.Resources))
				}
			}
		})
	}
}

// TestGeneratedPlaybookCompiles keeps the benchmark's input honest.
func TestGeneratedPlaybookCompiles(t *testing.T) {
	cat, diags := playbook.Load(genPlaybook(t, 200), resources.Builtin(), playbook.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	seen := map[string]bool{}
	edges := 0
	for _, r := range cat.Resources {
		for _, d := range r.DependsOn {
			if !seen[d] {
				t.Fatalf("%s comes before its dependency %s", r.Addr, d)
			}
			edges++
		}
		seen[r.Addr] = true
	}
	if edges < 100 {
		t.Fatalf("only %d edges", edges)
	}
}

var benchSizes = []int{1000, 10000}
