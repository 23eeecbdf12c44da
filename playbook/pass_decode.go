package playbook

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/internal/nesting"
	"github.com/orch-fleet/orch/resources"
)

// The decode pass: files → modules of declarations, each block checked
// against its schema. A bad block is reported and left out; the other
// passes still run, so that every problem of the playbook is reported at
// once.

// The top-level blocks of a playbook.
var fileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "lock"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "nodes", LabelNames: []string{"name"}},
		{Type: "resource", LabelNames: []string{"type", "name"}},
		{Type: "module", LabelNames: []string{"name"}},
	},
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message", Required: true}},
}

var nodesSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "fact"}, {Name: "class"}, {Name: "agent"}, {Name: "identity"}, {Name: "min"}, {Name: "max"}, {Name: "description"}},
}

// metaArgs are the arguments every resource takes besides its type's own.
var metaArgs = []string{"targets", "depends_on", "for_each", "count", "batch_size", "batch_sleep", "timeout", "any_one", "fail_ok", "noop", "description", "expect", "when", "max_failed"}

var resourceMetaSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "retry"}}}
	for _, n := range metaArgs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}()

var retrySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "attempts"}, {Name: "interval"}, {Name: "timeout"}},
}

// module is one parsed playbook directory (or file).
type module struct {
	path      string // file or directory
	dir       string
	lock      *hcl.Attribute
	vars      []*varDecl
	locals    []*hcl.Attribute
	nodes     []*nodesDecl
	resources []*resourceDecl
	resByKey  map[string]*resourceDecl // "type.name" -> first decl of that key
	resTypes  map[string]bool          // resource types used in this module
	// badTypes are unknown resource types, already reported: references
	// to their resources are not reported again.
	badTypes map[string]bool
	calls    []*moduleCall
	// graph is the declaration reference graph (the references pass).
	graph *declGraph
}

type varDecl struct {
	name        string
	typ         cty.Type
	defaults    *typeexpr.Defaults
	def         *hcl.Attribute
	sensitive   bool
	validations []*validation
	rng         hcl.Range
}

type validation struct {
	condition, message hcl.Expression
	rng                hcl.Range
}

type nodesDecl struct {
	name  string
	attrs hcl.Attributes
	rng   hcl.Range
}

type resourceDecl struct {
	typeName, name string
	t              *resources.Type
	meta           hcl.Attributes
	retry          *hcl.Block
	remain         hcl.Body // the type's arguments; what the type does not take is hidden
	spec           hcldec.ObjectSpec
	rng            hcl.Range
	// templates are the body's interpolating string templates, checked
	// with unknown node sets (checkTemplates).
	templates []*hclsyntax.TemplateExpr
}

func (r *resourceDecl) key() string { return r.typeName + "." + r.name }

type moduleCall struct {
	name      string
	source    string
	inputs    hcl.Attributes
	forEach   *hcl.Attribute
	count     *hcl.Attribute
	dependsOn *hcl.Attribute
	// rollout is the call's rollout block: the module's resources are
	// applied to a node set batch by batch. Nil: applied at once.
	rollout *rolloutDecl
	rng     hcl.Range
	child   *module
}

// rolloutDecl is a module call's rollout block.
type rolloutDecl struct {
	attrs hcl.Attributes
	rng   hcl.Range
}

// rolloutSchema is the rollout block of a module call.
var rolloutSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "nodes", Required: true}, {Name: "batches"}, {Name: "pause"}, {Name: "confirm"}, {Name: "max_failed"}},
}

// parser parses playbook files and module directories.
type parser struct {
	p     *hclparse.Parser
	reg   resources.Registry
	stack []moduleDir        // module directories being parsed, against recursion
	done  map[string]*module // module directories parsed, by real path
	types map[string]*typeInfo
	// maxNesting is LoadOptions.MaxNesting.
	maxNesting int
}

// typeInfo is what decoding needs of a resource type, built once per type.
type typeInfo struct {
	names bodyNames         // the names a resource body may hold
	spec  hcldec.ObjectSpec // its arguments' spec
}

// typeInfo returns the names and spec of t.
func (ps *parser) typeInfo(t *resources.Type) *typeInfo {
	if ti, ok := ps.types[t.Name]; ok {
		return ti
	}
	ti := &typeInfo{names: argNames(t), spec: typeSpec(t)}
	ps.types[t.Name] = ti
	return ti
}

// decode is the decode pass.
func (c *compiler) decode() hcl.Diagnostics {
	ps := &parser{p: c.parser, reg: c.reg, done: map[string]*module{}, types: map[string]*typeInfo{}, maxNesting: c.opts.MaxNesting}
	root, diags := ps.parseModule(c.path, nil)
	c.root = root
	c.fatal = root == nil
	return diags
}

// playbookFiles lists the files of a playbook path: the file itself, or
// every *.hcl and *.hcl.json of a directory, sorted.
func playbookFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".hcl") || strings.HasSuffix(e.Name(), ".hcl.json")) {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no .hcl or .hcl.json files", path)
	}
	return files, nil
}

// parseFile parses one native or JSON file into the parser's cache; a
// file nesting deeper than the limit is not parsed (its bytes are cached
// for the diagnostic's snippet).
func (ps *parser) parseFile(name string) (*hcl.File, hcl.Diagnostics) {
	return parseChecked(ps.p, name, ps.maxNesting)
}

// parseChecked reads and parses a native or JSON file after checking its
// nesting depth against limit (0 means nesting.DefaultMax).
func parseChecked(p *hclparse.Parser, name string, limit int) (*hcl.File, hcl.Diagnostics) {
	json := strings.HasSuffix(name, ".json")
	src, err := os.ReadFile(name)
	if err != nil {
		if json {
			return p.ParseJSONFile(name) // reports the error
		}
		return p.ParseHCLFile(name)
	}
	if f, ok := p.Files()[name]; ok {
		return f, nil
	}
	check, parse := nesting.Check, p.ParseHCL
	if json {
		check, parse = nesting.CheckJSON, p.ParseJSON
	}
	if diags := check(name, src, limit); diags.HasErrors() {
		p.AddFile(name, &hcl.File{Bytes: src})
		return nil, diags
	}
	return parse(src, name)
}

// parseModule parses the playbook at path (a file or directory).
func (ps *parser) parseModule(path string, from *hcl.Range) (*module, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	files, err := playbookFiles(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read playbook", Detail: err.Error(), Subject: from}}
	}
	m := &module{path: path, dir: path, resByKey: map[string]*resourceDecl{}, resTypes: map[string]bool{}, badTypes: map[string]bool{}}
	if len(files) == 1 && files[0] == path {
		m.dir = filepath.Dir(path)
	}
	for _, name := range files {
		f, d := ps.parseFile(name)
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		content, d := bodyContent(f.Body, fileSchema)
		diags = append(diags, d...)
		if a, ok := content.Attributes["lock"]; ok {
			m.lock = a
		}
		for _, b := range content.Blocks {
			diags = append(diags, ps.parseBlock(m, b)...)
		}
	}
	diags = append(diags, checkDuplicates(m)...)
	return m, diags
}

func (ps *parser) parseBlock(m *module, b *hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch b.Type {
	case "variable":
		v, d := parseVariable(b)
		diags = d
		m.vars = append(m.vars, v)
	case "locals":
		attrs, d := b.Body.JustAttributes()
		diags = d
		m.locals = append(m.locals, sortedAttrs(attrs)...)
	case "nodes":
		c, d := bodyContent(b.Body, nodesSchema)
		diags = d
		m.nodes = append(m.nodes, &nodesDecl{name: b.Labels[0], attrs: c.Attributes, rng: b.DefRange})
	case "resource":
		r, d := ps.parseResource(b)
		diags = d
		m.addResource(r, b.Labels[0])
	case "module":
		c, d := ps.parseModuleCall(m, b)
		diags = d
		if c != nil {
			m.calls = append(m.calls, c)
		}
	}
	return diags
}

// addResource adds a decoded resource; nil means its type is unknown.
func (m *module) addResource(r *resourceDecl, typeName string) {
	if r == nil {
		m.badTypes[typeName] = true
		return
	}
	m.resources = append(m.resources, r)
	m.resTypes[r.typeName] = true
	if _, dup := m.resByKey[r.key()]; !dup {
		m.resByKey[r.key()] = r
	}
}

func parseVariable(b *hcl.Block) (*varDecl, hcl.Diagnostics) {
	c, diags := bodyContent(b.Body, variableSchema)
	v := &varDecl{name: b.Labels[0], typ: cty.DynamicPseudoType, rng: b.DefRange}
	if !hclIdent(v.name) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable name", Detail: "A name must start with a letter and may contain only letters, digits, underscores and dashes.", Subject: b.LabelRanges[0].Ptr()})
	}
	if a, ok := c.Attributes["type"]; ok {
		ty, defs, d := typeexpr.TypeConstraintWithDefaults(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.typ, v.defaults = ty, defs
		}
	}
	v.def = c.Attributes["default"]
	if a, ok := c.Attributes["sensitive"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		v.sensitive = !d.HasErrors() && val.Type() == cty.Bool && val.True()
	}
	for _, vb := range c.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		v.validations = append(v.validations, &validation{condition: vc.Attributes["condition"].Expr, message: vc.Attributes["error_message"].Expr, rng: vb.DefRange})
	}
	return v, diags
}

func (ps *parser) parseResource(b *hcl.Block) (*resourceDecl, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	r := &resourceDecl{typeName: b.Labels[0], name: b.Labels[1], rng: b.DefRange}
	t, ok := ps.reg.Lookup(r.typeName)
	if !ok {
		detail := fmt.Sprintf("There is no resource type %q.", r.typeName)
		if s := didYouMean(r.typeName, ps.reg.Names()); s != "" {
			detail += s
		} else {
			detail += " The types are: " + strings.Join(ps.reg.Names(), ", ") + "."
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown resource type", Detail: detail, Subject: b.LabelRanges[0].Ptr()}}
	}
	if !hclIdent(r.name) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid resource name", Detail: "A name must start with a letter and may contain only letters, digits, underscores and dashes.", Subject: b.LabelRanges[1].Ptr()})
	}
	r.t, r.templates = t, bodyTemplates(b.Body, ps.p.Files())
	content, remain, d := b.Body.PartialContent(resourceMetaSchema)
	diags = append(diags, d...)
	r.meta = content.Attributes
	for _, rb := range content.Blocks {
		if r.retry != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate retry block", Detail: "A resource takes at most one retry block.", Subject: rb.DefRange.Ptr()})
			continue
		}
		r.retry = rb
	}
	if a, ok := r.meta["expect"]; ok && t.Name != "rpc" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument", Detail: "expect is an argument of the generic rpc resource type only.", Subject: a.NameRange.Ptr()})
	}
	if a, ok := r.meta["count"]; ok && r.meta["for_each"] != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid combination of count and for_each", Detail: "A resource takes count or for_each, not both.", Subject: a.NameRange.Ptr()})
	}
	ti := ps.typeInfo(t)
	r.spec = ti.spec
	return r, append(diags, r.checkTypeArgs(b.Body, remain, ti.names)...)
}

// argNames are the names a resource body of type t may hold.
func argNames(t *resources.Type) bodyNames {
	names := bodyNames{attrs: make([]string, 0, len(metaArgs)+len(t.Args)), blocks: []string{"retry"}}
	names.attrs = append(names.attrs, metaArgs...)
	for _, a := range t.Args {
		names.attrs = append(names.attrs, a.Name)
	}
	return names
}

// checkTypeArgs reports the arguments the type does not take and the ones
// it requires but are missing, now rather than at evaluation. What the type
// does not take is hidden from r.remain, so evaluation does not report it
// again.
func (r *resourceDecl) checkTypeArgs(body, remain hcl.Body, names bodyNames) hcl.Diagnostics {
	var diags hcl.Diagnostics
	hide := &hcl.BodySchema{}
	for _, e := range extras(body, remain, names) {
		diags = append(diags, e.diag(names, fmt.Sprintf("%s takes no argument %q.", r.typeName, e.name)))
		if e.block {
			hide.Blocks = append(hide.Blocks, hcl.BlockHeaderSchema{Type: e.name})
		} else {
			hide.Attributes = append(hide.Attributes, hcl.AttributeSchema{Name: e.name})
		}
	}
	r.remain = remain
	if len(hide.Attributes)+len(hide.Blocks) > 0 {
		_, r.remain, _ = remain.PartialContent(hide) // only hides: what it says is reported above
	}
	attrs, _ := r.remain.JustAttributes() // the arguments given (blocks are reported above)
	for _, a := range r.t.Args {
		if _, ok := attrs[a.Name]; a.Required && !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
				Detail: fmt.Sprintf("%s requires the argument %q (%s).", r.typeName, a.Name, a.Description), Subject: r.rng.Ptr()})
		}
	}
	return diags
}

// moduleCallArgs sorts a module block's arguments into the call.
func moduleCallArgs(c *moduleCall, attrs hcl.Attributes) {
	for name, a := range attrs {
		switch name {
		case "source":
		case "for_each":
			c.forEach = a
		case "count":
			c.count = a
		case "depends_on":
			c.dependsOn = a
		default:
			c.inputs[name] = a
		}
	}
}

func (ps *parser) parseModuleCall(m *module, b *hcl.Block) (*moduleCall, hcl.Diagnostics) {
	content, rest, diags := b.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "rollout"}}})
	attrs, d := callAttributes(rest)
	diags = append(diags, d...)
	c := &moduleCall{name: b.Labels[0], inputs: hcl.Attributes{}, rng: b.DefRange}
	c.rollout, d = parseRollout(content.Blocks)
	diags = append(diags, d...)
	moduleCallArgs(c, attrs)
	src, ok := attrs["source"]
	if !ok {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument", Detail: "A module block needs source = \"./DIR\".", Subject: b.DefRange.Ptr()})
	}
	v, d := src.Expr.Value(nil)
	if d.HasErrors() || v.Type() != cty.String || v.IsNull() {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid module source", Detail: "source must be a literal string path such as \"./modules/lb\".", Subject: src.Expr.Range().Ptr()})
	}
	c.source = v.AsString()
	dir := c.source
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(m.dir, dir)
	}
	child, d := ps.childModule(c.name, filepath.Clean(dir), src.Expr.Range().Ptr())
	diags = append(diags, d...)
	if child == nil {
		return nil, diags
	}
	c.child = child
	return c, append(diags, c.checkInputs()...)
}

// callAttributes returns a module block's arguments once its rollout
// block was taken out (hclsyntax's JustAttributes does not skip the
// blocks PartialContent took).
func callAttributes(rest hcl.Body) (hcl.Attributes, hcl.Diagnostics) {
	hb, ok := rest.(*hclsyntax.Body)
	if !ok {
		return rest.JustAttributes() // JSON: the rollout property is hidden
	}
	var diags hcl.Diagnostics
	for _, blk := range hb.Blocks {
		if blk.Type != "rollout" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Unexpected %q block", blk.Type),
				Detail: "A module block takes arguments (its inputs, source, count, for_each, depends_on) and one rollout block.", Subject: blk.TypeRange.Ptr()})
		}
	}
	attrs := make(hcl.Attributes, len(hb.Attributes))
	for name, a := range hb.Attributes {
		attrs[name] = a.AsHCLAttribute()
	}
	return attrs, diags
}

// parseRollout reads a module call's rollout block, if any (at most one).
func parseRollout(blocks hcl.Blocks) (*rolloutDecl, hcl.Diagnostics) {
	if len(blocks) == 0 {
		return nil, nil
	}
	var diags hcl.Diagnostics
	for _, b := range blocks[1:] {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate rollout block", Detail: "A module call has at most one rollout block.", Subject: b.DefRange.Ptr()})
	}
	c, d := bodyContent(blocks[0].Body, rolloutSchema)
	// Kept even when wrong, so that rollout.batch in the call's
	// arguments is not reported as well.
	return &rolloutDecl{attrs: c.Attributes, rng: blocks[0].DefRange}, append(diags, d...)
}

// moduleDir is a module directory as a module block names it and as it
// is on disk, symbolic links resolved, with the name of the call.
type moduleDir struct{ call, shown, real string }

// childModule parses a module directory once, however many calls use it
// and by whichever path (symbolic links are resolved). A module calling
// itself, directly or through others, and calls nested deeper than
// MaxModuleDepth are errors at the module block's source.
func (ps *parser) childModule(call, dir string, from *hcl.Range) (*module, hcl.Diagnostics) {
	md := moduleDir{call: "module." + call, shown: dir, real: dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		md.real = real
	}
	if d := ps.checkNesting(md, from); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	if m, ok := ps.done[md.real]; ok {
		return m, nil
	}
	ps.stack = append(ps.stack, md)
	child, diags := ps.parseModule(dir, from)
	ps.stack = ps.stack[:len(ps.stack)-1]
	if child != nil {
		ps.done[md.real] = child
	}
	return child, diags
}

// checkNesting reports md calling itself or nesting too deeply.
func (ps *parser) checkNesting(md moduleDir, from *hcl.Range) *hcl.Diagnostic {
	for i, p := range ps.stack {
		if p.real != md.real {
			continue
		}
		var chain []string
		for _, q := range ps.stack[i:] {
			chain = append(chain, q.call)
		}
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Recursive module",
			Detail: fmt.Sprintf("The module in %s calls itself: %s -> %s.",
				p.shown, strings.Join(chain, " -> "), md.call),
			Subject: from}
	}
	if depth := len(ps.stack) + 1; depth > MaxModuleDepth {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Modules nested too deeply",
			Detail:  fmt.Sprintf("%s would be nested %d modules deep; modules nest at most %d deep.", md.call, depth, MaxModuleDepth),
			Subject: from}
	}
	return nil
}

// checkInputs reports inputs the called module declares no variable for.
func (c *moduleCall) checkInputs() hcl.Diagnostics {
	var diags hcl.Diagnostics
	declared := map[string]bool{}
	var varNames []string
	for _, v := range c.child.vars {
		declared[v.name] = true
		varNames = append(varNames, v.name)
	}
	for _, a := range sortedAttrs(c.inputs) {
		if !declared[a.Name] {
			detail := fmt.Sprintf("Module %q (%s) has no variable %q.", c.name, c.source, a.Name) + didYouMean(a.Name, varNames)
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument", Detail: detail, Subject: a.NameRange.Ptr()})
		}
	}
	return diags
}

// checkDuplicates reports names declared twice.
func checkDuplicates(m *module) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	dup := func(kind, name string, at hcl.Range) {
		if first, ok := seen[kind+" "+name]; ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + kind,
				Detail: fmt.Sprintf("%s %q was already declared at %s.", kind, name, first), Subject: at.Ptr()})
		}
		seen[kind+" "+name] = at
	}
	for _, v := range m.vars {
		dup("variable", v.name, v.rng)
	}
	for _, l := range m.locals {
		dup("local", l.Name, l.Range)
	}
	for _, n := range m.nodes {
		dup("node set", n.name, n.rng)
	}
	for _, r := range m.resources {
		dup("resource", r.key(), r.rng)
	}
	for _, c := range m.calls {
		dup("module", c.name, c.rng)
	}
	return diags
}
