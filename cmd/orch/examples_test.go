package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplePlaybooks runs validate, graph and fmt -check on every
// playbook in examples/ and on the valid ones in testdata/.
func TestExamplePlaybooks(t *testing.T) {
	vars := map[string][]string{ // playbooks with required variables
		"health.hcl":         {"-var", "cluster=alfa"},
		"deploy.hcl":         {"-var", "cluster=bravo"},
		"deploy-classic.hcl": {"-var", "cluster=bravo"},
		"baseline.hcl":       {"-var", "cluster=alfa"},
		"upgrade-agents.hcl": {"-var", "version=1.3.0"},
	}
	var paths []string
	for _, pattern := range []string{"../../examples/*/*.hcl", "../../testdata/playbooks/valid/*.hcl"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 4 {
		t.Fatalf("found only %v", paths)
	}
	for _, p := range paths {
		src, _ := os.ReadFile(p)
		if !strings.Contains(string(src), "resource \"") {
			continue // not a playbook (a node config)
		}
		t.Run(p, func(t *testing.T) {
			v := vars[filepath.Base(p)]
			for _, cmd := range []string{"validate", "graph"} {
				var out, errb strings.Builder
				code := run(t.Context(), &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, append([]string{cmd, p}, v...))
				if code != 0 {
					t.Errorf("orch %s %s: exit %d\n%s", cmd, p, code, errb.String())
				}
				if cmd == "graph" && !strings.HasPrefix(out.String(), "digraph catalog {") {
					t.Errorf("graph output %q", out.String())
				}
			}
			var out, errb strings.Builder
			if code := run(t.Context(), &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, []string{"fmt", "-check", p}); code != 0 {
				t.Errorf("%s is not formatted (orch fmt %s)", p, p)
			}
		})
	}
}
