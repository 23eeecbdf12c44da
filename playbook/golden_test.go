package playbook_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestBrokenPlaybooks compiles every playbook under
// testdata/playbooks/broken and compares the diagnostics with the golden
// file beside it.
func TestBrokenPlaybooks(t *testing.T) {
	files, err := filepath.Glob("../testdata/playbooks/broken/*.hcl")
	if err != nil || len(files) < 25 {
		t.Fatalf("want at least 25 broken playbooks, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hcl")
		t.Run(name, func(t *testing.T) {
			res := playbook.Compile(f, resources.Builtin(), playbook.LoadOptions{Schemas: builtin.Schema})
			cat, diags := res.Catalog, res.Diagnostics
			if cat != nil || !diags.HasErrors() {
				t.Fatal("a broken playbook compiled")
			}
			for _, d := range diags {
				if d.Subject == nil && name != "missing_variable" {
					t.Errorf("diagnostic without a location: %s: %s", d.Summary, d.Detail)
				}
			}
			var buf bytes.Buffer
			playbook.WriteDiagnostics(&buf, res.Files, diags, false)
			golden := strings.TrimSuffix(f, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./catalog -update)", err)
			}
			if buf.String() != string(want) {
				t.Errorf("diagnostics differ from %s:\n--- got\n%s\n--- want\n%s", golden, buf.String(), want)
			}
		})
	}
}

// TestValidPlaybooks compiles the valid fixtures and the examples; the
// catalog's JSON is compared with a golden file.
func TestValidPlaybooks(t *testing.T) {
	files, _ := filepath.Glob("../testdata/playbooks/valid/*.hcl*")
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			res := playbook.Compile(f, resources.Builtin(), playbook.LoadOptions{Schemas: builtin.Schema})
			cat, diags := res.Catalog, res.Diagnostics
			if diags.HasErrors() {
				var buf bytes.Buffer
				playbook.WriteDiagnostics(&buf, res.Files, diags, false)
				t.Fatal(buf.String())
			}
			got, _ := json.MarshalIndent(cat, "", "  ")
			golden := f + ".golden"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./catalog -update)", err)
			}
			if string(append(got, '\n')) != string(want) {
				t.Errorf("catalog differs from %s:\n%s", golden, got)
			}
		})
	}
}
