package playbook

import (
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/resources"
)

// The playbook compiler is a list of named passes run in order over one
// compiler value; each pass reads what earlier ones left there and adds
// its own part:
//
//	decode      files → modules of declarations, blocks checked against their schemas
//	variables   root variable values: defaults, environment, -var-file, -var
//	validations the root variables' validation blocks
//	references  per module, the declaration reference graph (gonum): undeclared
//	            names, self references, cycles, evaluation order
//	evaluate    declarations in graph order; for_each, count and modules expanded
//	            into resource instances
//	expand      declaration dependencies → the instance addresses each instance waits for
//	instances   the instance graph (gonum): cycles, topological order, the catalog.Catalog
//	requests    each request checked against its agent's schema

// compiler is the state the passes share.
type compiler struct {
	path   string
	reg    resources.Registry
	opts   LoadOptions
	parser *hclparse.Parser
	funcs  evalFuncs

	root  *module                    // decode
	fatal bool                       // decode: nothing to compile
	vars  map[string]cty.Value       // variables
	prog  *program                   // evaluate
	ev    *evaluation                // evaluate
	deps  map[string]map[string]bool // expand: instance address -> the addresses it depends on
	cat   *catalog.Catalog           // instances

	ran string // the last pass run
}

// pass is one named step of the compiler.
type pass struct {
	name string
	run  func(*compiler) hcl.Diagnostics
	halt haltRule
}

// haltRule says when the driver stops after a pass.
type haltRule int

const (
	// haltOnOwnErrors stops when the pass itself reported an error.
	haltOnOwnErrors haltRule = iota
	// haltOnAnyErrors stops when this or any earlier pass reported one.
	haltOnAnyErrors
	// keepGoing lets the later passes run after errors, so that the
	// problems they find are reported together with this pass's.
	keepGoing
)

// passes lists the compiler's passes in order.
func passes() []pass {
	return []pass{
		{name: "decode", run: (*compiler).decode, halt: keepGoing},
		{name: "variables", run: (*compiler).variables, halt: haltOnOwnErrors},
		{name: "validations", run: (*compiler).validations, halt: haltOnOwnErrors},
		{name: "references", run: (*compiler).references, halt: keepGoing},
		{name: "evaluate", run: (*compiler).evaluate, halt: keepGoing},
		{name: "expand", run: (*compiler).expand, halt: haltOnAnyErrors},
		{name: "instances", run: (*compiler).instances, halt: haltOnOwnErrors},
		{name: "requests", run: (*compiler).requests, halt: haltOnOwnErrors},
	}
}

// run runs the passes up to and including the one named last ("" for
// all), stopping early as their halt rules say.
func (c *compiler) run(last string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, p := range passes() {
		d := p.run(c)
		c.ran = p.name
		diags = append(diags, d...)
		stop := c.fatal || p.name == last ||
			(p.halt == haltOnOwnErrors && d.HasErrors()) ||
			(p.halt == haltOnAnyErrors && diags.HasErrors())
		if stop {
			break
		}
	}
	return diags
}

// Result is a compiled playbook: the catalog (nil when any diagnostic is an
// error), the diagnostics, and the source files they point into.
type Result struct {
	Catalog     *catalog.Catalog
	Diagnostics hcl.Diagnostics
	// Files are the files the compiler parsed (the playbook, its modules,
	// -var-file files), by name: the source of diagnostic snippets.
	Files map[string]*hcl.File
	// vars and digest are what run history records (runinfo.go).
	vars   []Variable
	digest string
}

// Compile compiles the playbook at path (a file or a directory of *.hcl and
// *.hcl.json files) into a catalog. Every problem found is an HCL
// diagnostic with its source range. Nothing is sent to the fleet.
func Compile(path string, reg resources.Registry, o LoadOptions) *Result {
	c := newCompiler(path, reg, o)
	diags := c.run("")
	res := &Result{Diagnostics: diags, Files: c.parser.Files()}
	if !diags.HasErrors() {
		res.Catalog = c.cat
		c.runInfo(res)
	}
	return res
}

func newCompiler(path string, reg resources.Registry, o LoadOptions) *compiler {
	return &compiler{path: path, reg: reg, opts: o, parser: hclparse.NewParser(), funcs: functions()}
}

// Load is Compile returning the catalog and the diagnostics only; the
// catalog is nil when any diagnostic is an error.
func Load(path string, reg resources.Registry, o LoadOptions) (*catalog.Catalog, hcl.Diagnostics) {
	r := Compile(path, reg, o)
	return r.Catalog, r.Diagnostics
}

// WriteDiagnostics prints diagnostics with source snippets taken from files
// (Result.Files, or the files a caller parsed itself) and returns how many
// were errors.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) int {
	errs := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		}
	}
	// Source bytes only: the snippet, without HCL's "in resource ..."
	// context line, which orch's output has never shown.
	src := make(map[string]*hcl.File, len(files))
	for name, f := range files {
		if f != nil {
			src[name] = &hcl.File{Bytes: f.Bytes}
		}
	}
	wr := hcl.NewDiagnosticTextWriter(w, src, 100, color)
	_ = wr.WriteDiagnostics(diags)
	return errs
}
