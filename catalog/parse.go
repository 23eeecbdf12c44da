package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/resources"
)

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
var metaArgs = []string{"targets", "depends_on", "for_each", "count", "batch_size", "batch_sleep", "timeout", "any_one", "fail_ok", "noop", "description", "expect"}

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
	remain         hcl.Body
	rng            hcl.Range
}

func (r *resourceDecl) key() string { return r.typeName + "." + r.name }

type moduleCall struct {
	name      string
	source    string
	inputs    hcl.Attributes
	forEach   *hcl.Attribute
	count     *hcl.Attribute
	dependsOn *hcl.Attribute
	rng       hcl.Range
	child     *module
}

// parser parses playbook files and module directories.
type parser struct {
	p     *hclparse.Parser
	reg   resources.Registry
	stack []string // module directories being parsed, against recursion
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

// parseModule parses the playbook at path (a file or directory).
func (ps *parser) parseModule(path string, from *hcl.Range) (*module, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	files, err := playbookFiles(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read playbook", Detail: err.Error(), Subject: from}}
	}
	m := &module{path: path, dir: path}
	if len(files) == 1 && files[0] == path {
		m.dir = filepath.Dir(path)
	}
	for _, name := range files {
		var f *hcl.File
		var d hcl.Diagnostics
		if strings.HasSuffix(name, ".json") {
			f, d = ps.p.ParseJSONFile(name)
		} else {
			f, d = ps.p.ParseHCLFile(name)
		}
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		content, d := f.Body.Content(fileSchema)
		diags = append(diags, suggestTopLevel(d)...)
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
		diags = append(diags, d...)
		if v != nil {
			m.vars = append(m.vars, v)
		}
	case "locals":
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		m.locals = append(m.locals, sortedAttrs(attrs)...)
	case "nodes":
		c, d := b.Body.Content(nodesSchema)
		diags = append(diags, suggestArgs(d, nodesSchema)...)
		m.nodes = append(m.nodes, &nodesDecl{name: b.Labels[0], attrs: c.Attributes, rng: b.DefRange})
	case "resource":
		r, d := ps.parseResource(b)
		diags = append(diags, d...)
		if r == nil && len(b.Labels) > 0 {
			if _, known := ps.reg.Lookup(b.Labels[0]); !known {
				if m.badTypes == nil {
					m.badTypes = map[string]bool{}
				}
				m.badTypes[b.Labels[0]] = true
			}
		}
		if r != nil {
			m.resources = append(m.resources, r)
			if m.resByKey == nil {
				m.resByKey, m.resTypes = map[string]*resourceDecl{}, map[string]bool{}
			}
			m.resTypes[r.typeName] = true
			if _, dup := m.resByKey[r.key()]; !dup {
				m.resByKey[r.key()] = r
			}
		}
	case "module":
		c, d := ps.parseModuleCall(m, b)
		diags = append(diags, d...)
		if c != nil {
			m.calls = append(m.calls, c)
		}
	}
	return diags
}

func parseVariable(b *hcl.Block) (*varDecl, hcl.Diagnostics) {
	c, diags := b.Body.Content(variableSchema)
	diags = suggestArgs(diags, variableSchema)
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
	if a, ok := c.Attributes["default"]; ok {
		v.def = a
	}
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
		if s := suggest(r.typeName, ps.reg.Names()); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		} else {
			detail += " The types are: " + strings.Join(ps.reg.Names(), ", ") + "."
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown resource type", Detail: detail, Subject: b.LabelRanges[0].Ptr()}}
	}
	if !hclIdent(r.name) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid resource name", Detail: "A name must start with a letter and may contain only letters, digits, underscores and dashes.", Subject: b.LabelRanges[1].Ptr()})
	}
	r.t = t
	content, remain, d := b.Body.PartialContent(resourceMetaSchema)
	diags = append(diags, d...)
	r.meta, r.remain = content.Attributes, remain
	for _, rb := range content.Blocks {
		if r.retry != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate retry block", Detail: "A resource takes at most one retry block.", Subject: rb.DefRange.Ptr()})
			continue
		}
		r.retry = rb
	}
	if _, ok := r.meta["expect"]; ok && t.Name != "rpc" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument", Detail: "expect is an argument of the generic rpc resource type only.", Subject: r.meta["expect"].NameRange.Ptr()})
	}
	if _, ok := r.meta["count"]; ok {
		if _, ok := r.meta["for_each"]; ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid combination of count and for_each", Detail: "A resource takes count or for_each, not both.", Subject: r.meta["count"].NameRange.Ptr()})
		}
	}
	// Unknown and missing arguments of the type, reported now.
	attrs, d := remain.JustAttributes()
	for _, dd := range d {
		if dd.Summary == "Unexpected \"retry\" block" {
			continue
		}
		diags = append(diags, dd)
	}
	known := map[string]bool{}
	var names []string
	for _, a := range t.Args {
		known[a.Name] = true
		names = append(names, a.Name)
	}
	names = append(names, metaArgs...)
	for _, a := range sortedAttrs(attrs) {
		if !known[a.Name] {
			detail := fmt.Sprintf("%s takes no argument %q.", r.typeName, a.Name)
			if s := suggest(a.Name, names); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument", Detail: detail, Subject: a.NameRange.Ptr()})
		}
	}
	for _, a := range t.Args {
		if _, ok := attrs[a.Name]; a.Required && !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
				Detail: fmt.Sprintf("%s requires the argument %q (%s).", r.typeName, a.Name, a.Description), Subject: b.DefRange.Ptr()})
		}
	}
	return r, diags
}

func (ps *parser) parseModuleCall(m *module, b *hcl.Block) (*moduleCall, hcl.Diagnostics) {
	attrs, diags := b.Body.JustAttributes()
	c := &moduleCall{name: b.Labels[0], inputs: hcl.Attributes{}, rng: b.DefRange}
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
	dir = filepath.Clean(dir)
	for _, p := range ps.stack {
		if p == dir {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Recursive module", Detail: fmt.Sprintf("Module %s includes itself.", dir), Subject: src.Expr.Range().Ptr()})
		}
	}
	ps.stack = append(ps.stack, dir)
	child, d := ps.parseModule(dir, src.Expr.Range().Ptr())
	ps.stack = ps.stack[:len(ps.stack)-1]
	diags = append(diags, d...)
	if child == nil {
		return nil, diags
	}
	c.child = child
	declared := map[string]bool{}
	var varNames []string
	for _, v := range child.vars {
		declared[v.name] = true
		varNames = append(varNames, v.name)
	}
	for _, a := range sortedAttrs(c.inputs) {
		if !declared[a.Name] {
			detail := fmt.Sprintf("Module %q (%s) has no variable %q.", c.name, c.source, a.Name)
			if s := suggest(a.Name, varNames); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument", Detail: detail, Subject: a.NameRange.Ptr()})
		}
	}
	return c, diags
}

// checkDuplicates reports names declared twice.
func checkDuplicates(m *module) hcl.Diagnostics {
	var diags hcl.Diagnostics
	dup := func(kind, name string, first, again hcl.Range) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + kind,
			Detail: fmt.Sprintf("%s %q was already declared at %s.", kind, name, first), Subject: again.Ptr()})
	}
	vars := map[string]hcl.Range{}
	for _, v := range m.vars {
		if r, ok := vars[v.name]; ok {
			dup("variable", v.name, r, v.rng)
		}
		vars[v.name] = v.rng
	}
	locals := map[string]hcl.Range{}
	for _, l := range m.locals {
		if r, ok := locals[l.Name]; ok {
			dup("local", l.Name, r, l.Range)
		}
		locals[l.Name] = l.Range
	}
	nodes := map[string]hcl.Range{}
	for _, n := range m.nodes {
		if r, ok := nodes[n.name]; ok {
			dup("node set", n.name, r, n.rng)
		}
		nodes[n.name] = n.rng
	}
	res := map[string]hcl.Range{}
	for _, r := range m.resources {
		if rr, ok := res[r.key()]; ok {
			dup("resource", r.key(), rr, r.rng)
		}
		res[r.key()] = r.rng
	}
	mods := map[string]hcl.Range{}
	for _, c := range m.calls {
		if r, ok := mods[c.name]; ok {
			dup("module", c.name, r, c.rng)
		}
		mods[c.name] = c.rng
	}
	return diags
}

// suggestTopLevel adds "did you mean" to unknown top-level blocks.
func suggestTopLevel(diags hcl.Diagnostics) hcl.Diagnostics {
	kinds := []string{"variable", "locals", "nodes", "resource", "module", "lock"}
	for _, d := range diags {
		if d.Summary == "Unsupported block type" || d.Summary == "Unsupported argument" {
			if name := quotedName(d.Detail); name != "" && !strings.Contains(d.Detail, "Did you mean") {
				if s := suggest(name, kinds); s != "" {
					d.Detail = strings.TrimSuffix(d.Detail, ".") + fmt.Sprintf(". Did you mean %q?", s)
				}
			}
		}
	}
	return diags
}

// suggestArgs adds "did you mean" to unsupported arguments of a schema.
func suggestArgs(diags hcl.Diagnostics, schema *hcl.BodySchema) hcl.Diagnostics {
	var names []string
	for _, a := range schema.Attributes {
		names = append(names, a.Name)
	}
	for _, b := range schema.Blocks {
		names = append(names, b.Type)
	}
	for _, d := range diags {
		if d.Summary == "Unsupported argument" || d.Summary == "Unsupported block type" {
			if name := quotedName(d.Detail); name != "" && !strings.Contains(d.Detail, "Did you mean") {
				if s := suggest(name, names); s != "" {
					d.Detail = strings.TrimSuffix(d.Detail, ".") + fmt.Sprintf(". Did you mean %q?", s)
				}
			}
		}
	}
	return diags
}

// quotedName returns the first "quoted" word of an HCL diagnostic detail.
func quotedName(s string) string {
	i := strings.IndexByte(s, '"')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(s[i+1:], '"')
	if j < 0 {
		return ""
	}
	return s[i+1 : i+1+j]
}

// suggest returns the candidate closest to name when it is close enough.
func suggest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(name)/3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Range.Filename != out[j].Range.Filename {
			return out[i].Range.Filename < out[j].Range.Filename
		}
		return out[i].Range.Start.Byte < out[j].Range.Start.Byte
	})
	return out
}

func hclIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if i == 0 && !letter {
			return false
		}
		if !letter && r != '-' && !(r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
