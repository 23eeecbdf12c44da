package views

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/internal/golden"
	"github.com/orch-fleet/orch/resources"
)

func TestGraph(t *testing.T) {
	cat := &catalog.Catalog{Resources: []*catalog.Resource{
		{Addr: "rpcutil_ping.web", Type: "rpcutil_ping"},
		{Addr: `module.lb["bravo"].haproxy_disable.web`, Type: "haproxy_disable", Module: `module.lb["bravo"]`, DependsOn: []string{"rpcutil_ping.web"}},
		{Addr: "mystery.x", Type: "mystery", DependsOn: []string{`module.lb["bravo"].haproxy_disable.web`}},
	}}
	var out strings.Builder
	NewView(&out, &out).Graph(cat, resources.Builtin())
	golden.Check(t, "playbook/graph.golden", out.String())
}

func TestUnformatted(t *testing.T) {
	var out strings.Builder
	v := NewView(&out, &out)
	v.Unformatted("a.hcl", []byte("a=1\nb = 2\n"), []byte("a = 1\nb = 2\n"), true)
	v.Unformatted("b.hcl", []byte("x=1\n"), []byte("x = 1\n"), false)
	golden.Check(t, "playbook/fmt_diff.golden", out.String())
}

func TestDiagnostics(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "deploy.hcl")
	// The snippet comes from the parser's file cache, not the disk: the
	// file on disk has changed since it was compiled.
	cache := map[string]*hcl.File{file: {Bytes: []byte("resource \"nope\" \"x\" {\n  targets = 3\n}\n")}}
	if err := os.WriteFile(file, []byte("# edited after compiling\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Unknown resource type", Detail: `There is no resource type "nope".`,
			Subject: &hcl.Range{Filename: file, Start: hcl.Pos{Line: 1, Column: 10, Byte: 9}, End: hcl.Pos{Line: 1, Column: 16, Byte: 15}}},
		{Severity: hcl.DiagWarning, Summary: "No file", Detail: "The file is gone.",
			Subject: &hcl.Range{Filename: filepath.Join(dir, "gone.hcl"), Start: hcl.Pos{Line: 2, Column: 1}, End: hcl.Pos{Line: 2, Column: 2}}},
	}
	var out, errb strings.Builder
	if n := NewView(&out, &errb).Diagnostics(diags, cache); n != 1 {
		t.Errorf("%d errors, want 1", n)
	}
	if out.Len() > 0 {
		t.Errorf("diagnostics on stdout: %q", out.String())
	}
	golden.Check(t, "playbook/diagnostics.golden", strings.ReplaceAll(errb.String(), dir, "DIR"))
}
