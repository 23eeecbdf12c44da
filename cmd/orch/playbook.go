package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/internal/hclfmt"
	"github.com/orch-fleet/orch/playbook"
)

// playbookFlags are -var, -var-file and the compiler's instance limits,
// shared by validate, graph, catalog, plan and apply.
type playbookFlags struct {
	vars                stringList
	varFiles            stringList
	maxInstances        int
	maxCatalogInstances int
	agents              *playbookAgents // agents.d beside the playbook, set by compile (agents.go)
}

func addPlaybookFlags(fs *flag.FlagSet) *playbookFlags {
	p := &playbookFlags{}
	fs.Var(&p.vars, "var", "set a variable: `NAME=VALUE` (repeatable)")
	fs.Var(&p.varFiles, "var-file", "read variables from an HCL `file` (repeatable)")
	fs.IntVar(&p.maxInstances, "max-instances", 0,
		fmt.Sprintf("at most `N` instances per resource or module call; 0 means %d", playbook.DefaultMaxInstances))
	fs.IntVar(&p.maxCatalogInstances, "max-catalog-instances", 0,
		fmt.Sprintf("at most `N` resource and module instances in all; 0 means %d", playbook.DefaultMaxCatalogInstances))
	return p
}

// load compiles the playbook, printing diagnostics; nil means exit 2.
func (p *playbookFlags) load(e *env, path string) *catalog.Catalog {
	return p.compile(e, path).Catalog
}

// compile compiles the playbook, printing diagnostics; a nil Catalog
// means exit 2.
func (p *playbookFlags) compile(e *env, path string) *playbook.Result {
	pa, diags := loadPlaybookAgents(path)
	if diags.HasErrors() {
		e.view().Diagnostics(diags, nil)
		return &playbook.Result{Diagnostics: diags}
	}
	p.agents = pa
	return p.compileWith(e, path, pa, false)
}

// compileWith compiles with the resource types and schemas of pa,
// printing the diagnostics (only errors when errorsOnly).
func (p *playbookFlags) compileWith(e *env, path string, pa *playbookAgents, errorsOnly bool) *playbook.Result {
	res := playbook.Compile(path, pa.types, playbook.LoadOptions{
		Vars: p.vars, VarFiles: p.varFiles, Env: e.getenv, Schemas: pa.schemas.Lookup,
		MaxInstances: p.maxInstances, MaxCatalogInstances: p.maxCatalogInstances,
	})
	diags := res.Diagnostics
	if errorsOnly {
		diags = nil
		for _, d := range res.Diagnostics {
			if d.Severity == hcl.DiagError {
				diags = append(diags, d)
			}
		}
	}
	if len(diags) > 0 {
		e.view().Diagnostics(diags, res.Files)
	}
	return res
}

// onePath parses flags and expects exactly one playbook path.
func onePath(e *env, cmd string, fs *flag.FlagSet, args []string) (string, bool) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", false
	}
	if len(pos) != 1 {
		usageErr(e, cmd, "usage: %s", synopsis(cmd))
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
	e.view().Valid(path, cat)
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
	return viewErr(e, "catalog", e.view().Catalog(cat))
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
	e.view().Graph(cat, pf.agents.types)
	return exitOK
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
	files, err := hclfmt.Files(paths)
	if err != nil {
		return usageErr(e, "fmt", "%v", err)
	}
	v := e.view()
	code := exitOK
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(e.stderr, "orch fmt: %v\n", err)
			code = exitFailed
			continue
		}
		out, changed, diags := hclfmt.Format(f, src)
		switch {
		case diags.HasErrors():
			v.Diagnostics(diags, map[string]*hcl.File{f: {Bytes: src}})
			code = exitInvalid
			continue
		case !changed:
			continue
		}
		v.Unformatted(f, src, out, *diff)
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
