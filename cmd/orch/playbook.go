package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
)

// playbookFlags are -var and -var-file, shared by validate, graph, catalog,
// plan and apply.
type playbookFlags struct {
	vars     stringList
	varFiles stringList
}

func addPlaybookFlags(fs *flag.FlagSet) *playbookFlags {
	p := &playbookFlags{}
	fs.Var(&p.vars, "var", "set a variable: `NAME=VALUE` (repeatable)")
	fs.Var(&p.varFiles, "var-file", "read variables from an HCL `file` (repeatable)")
	return p
}

// load compiles the playbook, printing diagnostics; nil means exit 2.
func (p *playbookFlags) load(e *env, path string) *catalog.Catalog {
	res := catalog.Compile(path, resources.Builtin(), catalog.LoadOptions{Vars: p.vars, VarFiles: p.varFiles, Env: e.getenv, Schemas: builtin.Schema})
	if len(res.Diagnostics) > 0 {
		catalog.WriteDiagnostics(e.stderr, res.Files, res.Diagnostics, false)
	}
	return res.Catalog
}

// onePath parses flags and expects exactly one playbook path.
func onePath(e *env, cmd string, fs *flag.FlagSet, args []string) (string, bool) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", false
	}
	if len(pos) != 1 {
		usageErr(e, cmd, "usage: orch %s PLAYBOOK [-var NAME=VALUE]... [-var-file FILE]...", cmd)
		return "", false
	}
	return pos[0], true
}

// runValidate is `orch validate PATH`: compile and check, no network.
func runValidate(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("validate", e.stderr)
	pf := addPlaybookFlags(fs)
	path, ok := onePath(e, "validate", fs, args)
	if !ok {
		return exitInvalid
	}
	cat := pf.load(e, path)
	if cat == nil {
		return exitInvalid
	}
	fmt.Fprintf(e.stdout, "%s: valid, %d resource instance(s), %d node set(s)\n", path, len(cat.Resources), len(cat.NodeSets))
	return exitOK
}

// runCatalog is `orch catalog PATH`: the compiled catalog.
func runCatalog(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("catalog", e.stderr)
	pf := addPlaybookFlags(fs)
	fs.Bool("json", true, "JSON output (the only format)")
	path, ok := onePath(e, "catalog", fs, args)
	if !ok {
		return exitInvalid
	}
	cat := pf.load(e, path)
	if cat == nil {
		return exitInvalid
	}
	return writeJSON(e, cat)
}

// runGraph is `orch graph PATH`: the catalog as DOT.
func runGraph(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("graph", e.stderr)
	pf := addPlaybookFlags(fs)
	path, ok := onePath(e, "graph", fs, args)
	if !ok {
		return exitInvalid
	}
	cat := pf.load(e, path)
	if cat == nil {
		return exitInvalid
	}
	fmt.Fprint(e.stdout, dotGraph(cat, resources.Builtin()))
	return exitOK
}

// dotGraph renders the catalog: a box per resource instance labelled with
// its address and agent.action, module instances as clusters, edges from
// dependency to dependent.
func dotGraph(cat *catalog.Catalog, reg resources.Registry) string {
	var b strings.Builder
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	b.WriteString("digraph catalog {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	byModule := map[string][]*catalog.Resource{}
	for _, r := range cat.Resources {
		byModule[r.Module] = append(byModule[r.Module], r)
	}
	var mods []string
	for m := range byModule {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for i, m := range mods {
		indent := "  "
		if m != "" {
			fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%s;\n    style=rounded;\n", i, q(m))
			indent = "    "
		}
		for _, r := range byModule[m] {
			action := r.Type
			if t, ok := reg.Lookup(r.Type); ok {
				if req, err := t.Request(r.Static); err == nil {
					action = req.Agent + "." + req.Action
				} else if t.Agent != "" && t.Action != "" {
					action = t.Agent + "." + t.Action
				}
			}
			fmt.Fprintf(&b, "%s%s [label=%s];\n", indent, q(r.Addr), q(r.Addr+"\n"+action))
		}
		if m != "" {
			b.WriteString("  }\n")
		}
	}
	for _, r := range cat.Resources {
		for _, d := range r.DependsOn {
			fmt.Fprintf(&b, "  %s -> %s;\n", q(d), q(r.Addr))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// runFmt is `orch fmt [-check] [-diff] PATH...`.
func runFmt(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("fmt", e.stderr)
	check := fs.Bool("check", false, "do not write; exit 1 when a file is not formatted")
	diff := fs.Bool("diff", false, "print the changes")
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return usageErr(e, "fmt", "%v", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".hcl") {
				files = append(files, path)
			}
			return nil
		})
	}
	code := exitOK
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(e.stderr, "orch fmt: %v\n", err)
			code = exitFailed
			continue
		}
		if file, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos); diags.HasErrors() {
			catalog.WriteDiagnostics(e.stderr, map[string]*hcl.File{f: file}, diags, false)
			code = exitInvalid
			continue
		}
		out := hclwrite.Format(src)
		if bytes.Equal(src, out) {
			continue
		}
		fmt.Fprintln(e.stdout, f)
		if *diff {
			fmt.Fprint(e.stdout, lineDiff(string(src), string(out)))
		}
		if *check {
			if code == exitOK {
				code = exitFailed
			}
			continue
		}
		if err := os.WriteFile(f, out, 0o644); err != nil {
			fmt.Fprintf(e.stderr, "orch fmt: %v\n", err)
			code = exitFailed
		}
	}
	return code
}

// lineDiff is a minimal line diff: changed lines as -old / +new.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "-%s\n+%s\n", x, y)
		}
	}
	return out.String()
}
