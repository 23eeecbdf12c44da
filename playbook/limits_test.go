package playbook_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
)

// TestLimits compiles playbooks too large to commit, generated into a
// temporary directory, and playbooks at and past lowered limits. The
// diagnostics of each failing case are compared with
// testdata/playbooks/broken/generated/NAME.golden, the directory shown as
// TMP.
func TestLimits(t *testing.T) {
	deep := func(open, mid, close string, n int) string { // 100 brackets a line
		return strings.Repeat(strings.Repeat(open, 100)+"\n", n/100) + strings.Repeat(open, n%100) + mid +
			strings.Repeat(close, n%100) + strings.Repeat("\n"+strings.Repeat(close, 100), n/100)
	}
	ping := "resource \"rpcutil_ping\" \"p\" {\n  count = %d\n}\n"
	tests := map[string]struct {
		files  map[string]string // path under the directory -> content; the playbook is main.hcl
		opts   playbook.LoadOptions
		golden bool // false: must compile
	}{
		"parentheses": {files: map[string]string{
			"main.hcl": "resource \"rpcutil_ping\" \"p\" {\n  description = " + deep("(", `"x"`, ")", 70000) + "\n}\n"}, golden: true},
		"unary_operators": {files: map[string]string{
			"main.hcl": "resource \"rpcutil_ping\" \"p\" {\n  noop = (\n" + strings.Repeat(strings.Repeat("!", 100)+"\n", 700) + "true)\n}\n"}, golden: true},
		"json_arrays": {files: map[string]string{
			"main.hcl.json": `{"locals": {"x": ` + deep("[", "1", "]", 70000) + `}}`}, golden: true},
		"var_file": {files: map[string]string{
			"main.hcl": "variable \"x\" {\n  type = any\n}\n", "vars.hcl": "x = " + deep("[", "1", "]", 2000) + "\n"},
			opts: playbook.LoadOptions{VarFiles: []string{"vars.hcl"}}, golden: true},
		"var_flag": {files: map[string]string{"main.hcl": "variable \"x\" {\n  type = any\n}\n"},
			opts: playbook.LoadOptions{Vars: []string{"x=" + deep("[", "1", "]", 2000)}}, golden: true},
		"var_flag_string": {files: map[string]string{"main.hcl": "variable \"x\" {\n  type = string\n}\n"},
			opts: playbook.LoadOptions{Vars: []string{"x=" + deep("(", "1", ")", 2000)}}},
		"nesting_lowered":      {files: map[string]string{"main.hcl": "locals {\n  x = [[[1]]]\n}\n"}, opts: playbook.LoadOptions{MaxNesting: 3}, golden: true},
		"nesting_at_limit":     {files: map[string]string{"main.hcl": "locals {\n  x = [[1]]\n}\n"}, opts: playbook.LoadOptions{MaxNesting: 3}},
		"count_lowered":        {files: map[string]string{"main.hcl": fmt.Sprintf(ping, 5)}, opts: playbook.LoadOptions{MaxInstances: 4}, golden: true},
		"count_at_limit":       {files: map[string]string{"main.hcl": fmt.Sprintf(ping, 4)}, opts: playbook.LoadOptions{MaxInstances: 4}},
		"count_raised":         {files: map[string]string{"main.hcl": fmt.Sprintf(ping, 10001)}, opts: playbook.LoadOptions{MaxInstances: 10001}},
		"catalog_lowered":      {files: map[string]string{"main.hcl": fmt.Sprintf(ping, 3) + "module \"m\" {\n  source = \"./m\"\n  count  = 2\n}\n", "m/main.hcl": fmt.Sprintf(ping, 2)}, opts: playbook.LoadOptions{MaxCatalogInstances: 8}, golden: true},
		"catalog_at_limit":     {files: map[string]string{"main.hcl": fmt.Sprintf(ping, 3) + "module \"m\" {\n  source = \"./m\"\n  count  = 2\n}\n", "m/main.hcl": fmt.Sprintf(ping, 2)}, opts: playbook.LoadOptions{MaxCatalogInstances: 9}},
		"modules_too_deep":     {files: moduleChain(playbook.MaxModuleDepth + 1), golden: true},
		"modules_at_the_limit": {files: moduleChain(playbook.MaxModuleDepth)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			main := ""
			for p, src := range tt.files {
				full := filepath.Join(dir, p)
				if strings.HasPrefix(p, "main.") {
					main = full
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			opts := tt.opts
			opts.Schemas = builtin.Schema
			for i, f := range opts.VarFiles {
				opts.VarFiles = append([]string{}, opts.VarFiles...)
				opts.VarFiles[i] = filepath.Join(dir, f)
			}
			res := playbook.Compile(main, resources.Builtin(), opts)
			var buf bytes.Buffer
			playbook.WriteDiagnostics(&buf, res.Files, res.Diagnostics, false)
			if !tt.golden {
				if res.Diagnostics.HasErrors() {
					t.Fatalf("did not compile:\n%s", buf.String())
				}
				return
			}
			if res.Catalog != nil {
				t.Fatal("compiled")
			}
			compareGolden(t, filepath.Join("../testdata/playbooks/broken/generated", name+".golden"),
				strings.ReplaceAll(buf.String(), dir, "TMP"))
		})
	}
}

// moduleChain is a playbook whose modules nest n deep: main.hcl calls
// m/, which calls m/m/, and so on.
func moduleChain(n int) map[string]string {
	call := "module \"m\" {\n  source = \"./m\"\n}\n"
	files := map[string]string{"main.hcl": call}
	dir := ""
	for i := 1; i <= n; i++ {
		dir = filepath.Join(dir, "m")
		files[filepath.Join(dir, "main.hcl")] = call
		if i == n {
			files[filepath.Join(dir, "main.hcl")] = "resource \"rpcutil_ping\" \"p\" {}\n"
		}
	}
	return files
}

// compareGolden compares got with the file golden, or rewrites it with
// -update.
func compareGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./playbook -update)", err)
	}
	if got != string(want) {
		t.Errorf("diagnostics differ from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
}
