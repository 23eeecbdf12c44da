package playbook

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/orch-fleet/orch/catalog"
)

// The references pass: each module's declarations (locals, node sets,
// resources, module calls) become the vertices of one gonum graph, their
// references and depends_on its edges (dependency → dependent). References
// to what does not exist are reported here, once per module; the graph's
// topological order is the order evaluate follows, and its cycles are
// reported from topo.Sort's unorderable sets.

// refs are what an expression's traversals point at, classified.
type refs struct {
	vars, locals, nodes, decls, modules map[string]bool
	// results are the decls whose run results (changed_nodes, ok_nodes,
	// failed_nodes) are referenced.
	results map[string]bool
	// moduleResults are the rollout module calls whose results
	// (module.NAME.failed_nodes ...) are referenced.
	moduleResults map[string]bool
	// batch: rollout.batch is referenced (a rollout module call's inputs).
	batch       bool
	each, count bool
	// self is the declaration's own key when it refers to itself (an
	// error): evaluation gives it the placeholder value.
	self string
}

func newRefs() *refs {
	return &refs{vars: map[string]bool{}, locals: map[string]bool{}, nodes: map[string]bool{}, decls: map[string]bool{}, modules: map[string]bool{}, results: map[string]bool{}, moduleResults: map[string]bool{}}
}

// holes are the names references use that the module does not declare.
// They are reported by this pass; evaluation sees them as unknown values,
// so that HCL does not report them a second time.
type holes struct {
	attrs map[string]map[string]bool // root ("var", "local", "nodes", a resource type) -> names
	roots map[string]bool            // unknown roots
}

func (h *holes) add(root, name string) {
	if name == "" {
		h.roots[root] = true
		return
	}
	if h.attrs[root] == nil {
		h.attrs[root] = map[string]bool{}
	}
	h.attrs[root][name] = true
}

// refChecker classifies traversals against the declarations of a module.
type refChecker struct {
	m     *module
	funcs evalFuncs
	holes *holes
}

// refSite says where traversals come from.
type refSite struct {
	self         string // the declaration's own address: references to it are self references
	allowReply   bool   // in an rpc resource's expect expression
	allowRollout bool   // in the inputs of a module call with a rollout block
}

// collect classifies travs into r and reports references to things that
// do not exist.
func (rc *refChecker) collect(r *refs, travs []hcl.Traversal, site refSite) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range travs {
		if d := rc.classify(r, t, site); d != nil {
			diags = append(diags, d)
		}
	}
	return diags
}

func attrName(t hcl.Traversal) string {
	if len(t) > 1 {
		if a, ok := t[1].(hcl.TraverseAttr); ok {
			return a.Name
		}
	}
	return ""
}

func (rc *refChecker) classify(r *refs, t hcl.Traversal, site refSite) *hcl.Diagnostic {
	switch root := t.RootName(); root {
	case "var", "local", "nodes":
		return rc.named(r, t, site)
	case "each":
		r.each = true
	case "count":
		r.count = true
	case "reply":
		if !site.allowReply {
			return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: "reply is only available in an rpc resource's expect expression.", Subject: t.SourceRange().Ptr()}
		}
	case "module":
		return rc.moduleRef(r, t, site)
	case "rollout":
		if !site.allowRollout || attrName(t) != "batch" {
			rc.holes.add("rollout", "")
			return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: "rollout.batch (the current batch of nodes) is only available in the arguments of a module block that has a rollout block.", Subject: t.SourceRange().Ptr()}
		}
		r.batch = true
	default:
		return rc.resourceRef(r, t, site)
	}
	return nil
}

// declared lists the names of one kind the module declares.
func (rc *refChecker) declared(root string) []string {
	var names []string
	switch root {
	case "var":
		for _, v := range rc.m.vars {
			names = append(names, v.name)
		}
	case "local":
		for _, l := range rc.m.locals {
			names = append(names, l.Name)
		}
	case "nodes":
		for _, n := range rc.m.nodes {
			names = append(names, n.name)
		}
	case "module":
		for _, c := range rc.m.calls {
			names = append(names, c.name)
		}
	default:
		for _, d := range rc.m.resources {
			names = append(names, d.key())
		}
	}
	return names
}

// refWhat names what a reference root stands for, in messages.
func refWhat(root string) string {
	switch root {
	case "var":
		return "variable"
	case "local":
		return "local value"
	case "nodes":
		return "node set"
	}
	return root
}

func (rc *refChecker) undeclared(t hcl.Traversal, what, name string, names []string) *hcl.Diagnostic {
	detail := fmt.Sprintf("There is no %s %q in this playbook.", what, name) + didYouMean(name, names)
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared " + what, Detail: detail, Subject: t.SourceRange().Ptr()}
}

// named classifies var.NAME, local.NAME and nodes.NAME.
func (rc *refChecker) named(r *refs, t hcl.Traversal, site refSite) *hcl.Diagnostic {
	root, attr := t.RootName(), attrName(t)
	switch {
	case attr == "":
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: fmt.Sprintf("%s must be followed by a name, e.g. %s.NAME.", root, root), Subject: t.SourceRange().Ptr()}
	case root+"."+attr == site.self:
		return selfRef(site.self, t) // a local's value stays the unknown placeholder
	}
	names := rc.declared(root)
	for _, n := range names {
		if n == attr {
			map[string]map[string]bool{"var": r.vars, "local": r.locals, "nodes": r.nodes}[root][attr] = true
			return nil
		}
	}
	rc.holes.add(root, attr)
	return rc.undeclared(t, refWhat(root), attr, names)
}

// moduleRef classifies module.NAME (depends_on only: modules have no
// outputs).
func (rc *refChecker) moduleRef(r *refs, t hcl.Traversal, site refSite) *hcl.Diagnostic {
	attr := attrName(t)
	if attr == "" {
		return nil
	}
	names := rc.declared("module")
	found := false
	for _, n := range names {
		found = found || n == attr
	}
	switch {
	case !found:
		return rc.undeclared(t, "module", attr, names)
	case "module."+attr == site.self:
		return selfRef(site.self, t)
	case len(t) > 2:
		if d := rc.moduleResultRef(t, attr); d != nil {
			return d
		}
		r.moduleResults[attr] = true
	}
	r.modules[attr] = true
	return nil
}

// moduleResultRef checks module.NAME.ATTR: only the results of a rollout
// (failed_nodes, ok_nodes, changed_nodes) of a module called once.
func (rc *refChecker) moduleResultRef(t hcl.Traversal, name string) *hcl.Diagnostic {
	var call *moduleCall
	for _, c := range rc.m.calls {
		if c.name == name {
			call = c
		}
	}
	a, isAttr := t[2].(hcl.TraverseAttr)
	switch {
	case call.rollout == nil:
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported reference", Detail: "Modules have no outputs; depend on a whole module with depends_on = [module.NAME]. Only a module with a rollout block has results (module.NAME.failed_nodes, ok_nodes, changed_nodes).", Subject: t.SourceRange().Ptr()}
	case call.count != nil || call.forEach != nil:
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported reference", Detail: "The results of a rollout can be used when its module is called once (without count or for_each).", Subject: t.SourceRange().Ptr()}
	case !isAttr || !slices.Contains(catalog.ResultAttrs(), a.Name):
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported reference", Detail: fmt.Sprintf("A rollout's results are %s.", strings.Join(catalog.ResultAttrs(), ", ")), Subject: t.SourceRange().Ptr()}
	}
	return nil
}

func selfRef(self string, t hcl.Traversal) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Self reference", Detail: fmt.Sprintf("%s refers to itself.", self), Subject: t.SourceRange().Ptr()}
}

// resourceRef classifies TYPE.NAME[...]: a resource, else a function name
// used as a variable or an unknown root.
func (rc *refChecker) resourceRef(r *refs, t hcl.Traversal, site refSite) *hcl.Diagnostic {
	root, attr := t.RootName(), attrName(t)
	if rc.m.badTypes[root] {
		rc.holes.add(root, "")
		return nil // its unknown type is reported already
	}
	if attr == "" || !rc.m.resTypes[root] {
		if _, ok := rc.funcs[root]; ok {
			return nil
		}
		rc.holes.add(root, "")
		roots := []string{"var", "local", "nodes", "module", "each", "count"}
		for _, d := range rc.m.resources {
			roots = append(roots, d.typeName)
		}
		detail := fmt.Sprintf("%q is not a variable, local, node set, module or resource of this playbook.", root) + didYouMean(root, roots)
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown reference", Detail: detail, Subject: t.SourceRange().Ptr()}
	}
	key := root + "." + attr
	switch {
	case rc.m.resByKey[key] == nil:
		rc.holes.add(root, attr)
		return rc.undeclared(t, "resource", key, rc.declared(""))
	case key == site.self:
		r.self = key
		return selfRef(site.self, t)
	}
	r.decls[key] = true
	if usesResult(t) {
		r.results[key] = true
	}
	return nil
}

// usesResult reports whether a resource traversal reaches one of the
// result attributes (TYPE.NAME.changed_nodes, TYPE.NAME["k"].ok_nodes).
func usesResult(t hcl.Traversal) bool {
	for _, step := range t[2:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			return slices.Contains(catalog.ResultAttrs(), a.Name)
		}
	}
	return false
}

// dependsOn reads a depends_on list into r.
func (rc *refChecker) dependsOn(a *hcl.Attribute, r *refs, self string) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	exprs, diags := hcl.ExprList(a.Expr)
	for _, e := range exprs {
		t, d := hcl.AbsTraversalForExpr(e)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		switch root := t.RootName(); {
		case root == "var" || root == "local" || root == "nodes" || root == "each" || root == "count":
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on", Detail: "depends_on lists resources (TYPE.NAME) and modules (module.NAME).", Subject: e.Range().Ptr()})
		case root != "module" && len(t) > 2:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on", Detail: "depends_on names whole resources (TYPE.NAME), without an index or attribute.", Subject: e.Range().Ptr()})
		default:
			diags = append(diags, rc.collect(r, []hcl.Traversal{t}, refSite{self: self})...)
		}
	}
	return diags
}

// inSourceOrder orders diagnostics by position (traversals come from maps).
func inSourceOrder(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool { return rangeLess(*diags[i].Subject, *diags[j].Subject) })
	return diags
}

// resourceTraversals returns the traversals of a resource block's
// expressions, but for depends_on and expect.
func resourceTraversals(d *resourceDecl) []hcl.Traversal {
	var travs []hcl.Traversal
	for name, a := range d.meta {
		if name == "depends_on" || name == "expect" {
			continue
		}
		travs = append(travs, a.Expr.Variables()...)
	}
	travs = append(travs, hcldec.Variables(d.remain, d.spec)...)
	if d.retry != nil {
		attrs, _ := d.retry.Body.JustAttributes() // its content is checked by evaluate
		for _, a := range attrs {
			travs = append(travs, a.Expr.Variables()...)
		}
	}
	return travs
}

// resourceRefs collects the references of a resource decl.
func (rc *refChecker) resourceRefs(d *resourceDecl) (*refs, hcl.Diagnostics) {
	r := newRefs()
	diags := inSourceOrder(rc.collect(r, resourceTraversals(d), refSite{self: d.key()}))
	if e, ok := d.meta["expect"]; ok {
		diags = append(diags, rc.collect(r, e.Expr.Variables(), refSite{self: d.key(), allowReply: true})...)
	}
	return r, append(diags, rc.dependsOn(d.meta["depends_on"], r, d.key())...)
}

// localRefs collects the references of a local value: variables, node sets
// and other locals only.
func (rc *refChecker) localRefs(l *hcl.Attribute) (*refs, bool, hcl.Diagnostics) {
	r := newRefs()
	diags := rc.collect(r, l.Expr.Variables(), refSite{self: "local." + l.Name})
	if len(r.decls) > 0 || len(r.results) > 0 || len(r.moduleResults) > 0 || r.each || r.count {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid local value", Detail: "Local values may refer to variables, node sets and other locals, not to resources, each or count.", Subject: l.Expr.Range().Ptr()})
		return r, false, diags
	}
	return r, true, diags
}

// nodesRefs collects the references of a node set: variables and locals
// only.
func (rc *refChecker) nodesRefs(n *nodesDecl) (*refs, bool, hcl.Diagnostics) {
	r := newRefs()
	var diags hcl.Diagnostics
	for _, a := range sortedAttrs(n.attrs) {
		diags = append(diags, rc.collect(r, a.Expr.Variables(), refSite{self: "nodes." + n.name})...)
	}
	if len(r.nodes) > 0 || len(r.decls) > 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid node set", Detail: "A node set's filter may use variables and locals, not other node sets or resources.", Subject: n.rng.Ptr()})
		return r, false, diags
	}
	return r, !diags.HasErrors(), diags
}

// callRefs collects the references of a module call.
func (rc *refChecker) callRefs(c *moduleCall) (*refs, hcl.Diagnostics) {
	r := newRefs()
	var travs []hcl.Traversal
	for _, a := range c.inputs {
		travs = append(travs, a.Expr.Variables()...)
	}
	for _, a := range []*hcl.Attribute{c.forEach, c.count} {
		if a != nil {
			travs = append(travs, a.Expr.Variables()...)
		}
	}
	self := "module." + c.name
	if c.rollout != nil {
		for _, a := range c.rollout.attrs {
			travs = append(travs, a.Expr.Variables()...)
		}
	}
	diags := inSourceOrder(rc.collect(r, travs, refSite{self: self, allowRollout: c.rollout != nil}))
	return r, append(diags, rc.dependsOn(c.dependsOn, r, self)...)
}
