package catalog

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/orch-fleet/orch/resources"
)

func nowUTC() time.Time { return time.Now().UTC() }

// scope is one module instance: the root, or module.NAME[KEY].
type scope struct {
	prefix   string // "" or `module.lb.` or `module.lb["a"].`
	mod      *module
	vars     map[string]cty.Value
	locals   map[string]cty.Value
	funcs    evalFuncs
	nodeVals map[string]cty.Value // global node set address -> list of identities (unknown before discovery)
	// nodeDeps are node sets this scope's variables may depend on (the
	// module call's expressions and the parent's own), over-approximated.
	nodeDeps map[string]bool
	// after are instance-address prefixes every resource of the scope
	// depends on (the module call's depends_on, inherited).
	after []string
	// values of resource decls, by "type.name", for references.
	resVals map[string]cty.Value
	// instances produced in this scope.
	insts []*instance
	diags *hcl.Diagnostics
}

// instance is one evaluated resource instance.
type instance struct {
	addr      string
	decl      *resourceDecl
	scope     *scope
	ctx       *hcl.EvalContext
	args      cty.Value // object of the type's arguments (may hold unknowns)
	targets   cty.Value // list of identities, or NilVal when not given
	nodeSets  map[string]bool
	static    staticMeta
	declDeps  []string // decl keys referenced in the same scope
	afterPref []string // instance-address prefixes depended on
}

// staticMeta are the meta-arguments that must be known at compile time.
type staticMeta struct {
	description string
	batchSize   int
	batchSleep  time.Duration
	timeout     time.Duration
	anyOne      bool
	failOK      bool
	retry       Retry
	noop        bool
}

func (s *scope) addDiags(d hcl.Diagnostics) { *s.diags = append(*s.diags, d...) }

func (s *scope) nodeAddr(name string) string { return s.prefix + "nodes." + name }

// ctx builds the evaluation context of the scope.
func (s *scope) ctx() *hcl.EvalContext { return s.ctxFor(nil) }

// ctxFor is ctx holding only the resources r refers to, so that evaluating
// each resource costs what it references, not the size of the playbook.
// A nil r holds every resource.
func (s *scope) ctxFor(r *refs) *hcl.EvalContext {
	nodes := map[string]cty.Value{}
	for _, n := range s.mod.nodes {
		nodes[n.name] = s.nodeVals[s.nodeAddr(n.name)]
	}
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(s.vars),
		"local": cty.ObjectVal(s.locals),
		"nodes": cty.ObjectVal(nodes),
	}
	byType := map[string]map[string]cty.Value{}
	add := func(key string, v cty.Value) {
		t, n, _ := strings.Cut(key, ".")
		if byType[t] == nil {
			byType[t] = map[string]cty.Value{}
		}
		byType[t][n] = v
	}
	if r == nil {
		for key, v := range s.resVals {
			add(key, v)
		}
	} else {
		for key := range r.decls {
			if v, ok := s.resVals[key]; ok {
				add(key, v)
			}
		}
	}
	for t, m := range byType {
		vars[t] = cty.ObjectVal(m)
	}
	return &hcl.EvalContext{Variables: vars, Functions: s.funcs}
}

// refs are what an expression's traversals point at, classified.
type refs struct {
	vars, locals, nodes, decls, modules map[string]bool
	// results are the decls whose run results (changed_nodes, ok_nodes,
	// failed_nodes) are referenced.
	results     map[string]bool
	each, count bool
}

func newRefs() *refs {
	return &refs{vars: map[string]bool{}, locals: map[string]bool{}, nodes: map[string]bool{}, decls: map[string]bool{}, modules: map[string]bool{}, results: map[string]bool{}}
}

// usesResult reports whether a resource traversal reaches one of the
// result attributes (TYPE.NAME.changed_nodes, TYPE.NAME["k"].ok_nodes).
func usesResult(t hcl.Traversal) bool {
	for _, step := range t[2:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			return isResultAttr(a.Name)
		}
	}
	return false
}

// resultKeys returns the pseudo node set addresses standing for the run
// results of the scope's instances of decl key.
func (s *scope) resultKeys(key string) []string {
	var out []string
	for _, in := range s.insts {
		if in.scope == s && in.decl.key() == key {
			for _, a := range resultAttrs {
				out = append(out, ResultKey(in.addr, a))
			}
		}
	}
	return out
}

// withResults adds the run result attributes of instance addr to its value:
// known when the engine has passed them in, unknown before.
func (s *scope) withResults(args cty.Value, addr string) cty.Value {
	if args == cty.DynamicVal || !args.Type().IsObjectType() {
		return args
	}
	attrs := map[string]cty.Value{}
	if args.IsKnown() && !args.IsNull() {
		for k, v := range args.AsValueMap() {
			attrs[k] = v
		}
	} else {
		for k, t := range args.Type().AttributeTypes() {
			attrs[k] = cty.UnknownVal(t)
		}
	}
	for _, a := range resultAttrs {
		if v, ok := s.nodeVals[ResultKey(addr, a)]; ok {
			attrs[a] = v
		} else {
			attrs[a] = cty.UnknownVal(cty.List(cty.String))
		}
	}
	return cty.ObjectVal(attrs)
}

// collectRefs classifies the traversals and reports references to things
// that do not exist.
func (s *scope) collectRefs(r *refs, travs []hcl.Traversal, self string, allowReply bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	declared := func(kind string) []string {
		var names []string
		switch kind {
		case "var":
			for _, v := range s.mod.vars {
				names = append(names, v.name)
			}
		case "local":
			for _, l := range s.mod.locals {
				names = append(names, l.Name)
			}
		case "nodes":
			for _, n := range s.mod.nodes {
				names = append(names, n.name)
			}
		}
		return names
	}
	undeclared := func(t hcl.Traversal, what, name string, names []string) {
		detail := fmt.Sprintf("There is no %s %q in this playbook.", what, name)
		if sug := suggest(name, names); sug != "" {
			detail += fmt.Sprintf(" Did you mean %q?", sug)
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared " + what, Detail: detail, Subject: t.SourceRange().Ptr()})
	}
	for _, t := range travs {
		root := t.RootName()
		attr := ""
		if len(t) > 1 {
			if a, ok := t[1].(hcl.TraverseAttr); ok {
				attr = a.Name
			}
		}
		switch root {
		case "var", "local", "nodes":
			if attr == "" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: fmt.Sprintf("%s must be followed by a name, e.g. %s.NAME.", root, root), Subject: t.SourceRange().Ptr()})
				continue
			}
			names := declared(root)
			found := false
			for _, n := range names {
				found = found || n == attr
			}
			what := map[string]string{"var": "variable", "local": "local value", "nodes": "node set"}[root]
			if !found {
				undeclared(t, what, attr, names)
				continue
			}
			map[string]map[string]bool{"var": r.vars, "local": r.locals, "nodes": r.nodes}[root][attr] = true
		case "each":
			r.each = true
		case "count":
			r.count = true
		case "reply":
			if !allowReply {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: "reply is only available in an rpc resource's expect expression.", Subject: t.SourceRange().Ptr()})
			}
		case "module":
			if attr == "" {
				continue
			}
			found := false
			for _, c := range s.mod.calls {
				found = found || c.name == attr
			}
			if !found {
				var names []string
				for _, c := range s.mod.calls {
					names = append(names, c.name)
				}
				undeclared(t, "module", attr, names)
				continue
			}
			if len(t) > 2 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported reference", Detail: "Modules have no outputs; depend on a whole module with depends_on = [module.NAME].", Subject: t.SourceRange().Ptr()})
				continue
			}
			r.modules[attr] = true
		default:
			isType := s.mod.resTypes[root]
			if s.mod.badTypes[root] {
				continue // its unknown type is reported already
			}
			if attr == "" || !isType {
				if _, ok := s.funcs[root]; ok {
					continue
				}
				var roots []string
				roots = append(roots, "var", "local", "nodes", "module", "each", "count")
				for _, d := range s.mod.resources {
					roots = append(roots, d.typeName)
				}
				detail := fmt.Sprintf("%q is not a variable, local, node set, module or resource of this playbook.", root)
				if sug := suggest(root, roots); sug != "" {
					detail += fmt.Sprintf(" Did you mean %q?", sug)
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown reference", Detail: detail, Subject: t.SourceRange().Ptr()})
				continue
			}
			key := root + "." + attr
			if s.mod.resByKey[key] == nil {
				var names []string
				for _, d := range s.mod.resources {
					names = append(names, d.key())
				}
				undeclared(t, "resource", key, names)
				continue
			}
			if key == self {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Self reference", Detail: fmt.Sprintf("%s refers to itself.", self), Subject: t.SourceRange().Ptr()})
				continue
			}
			r.decls[key] = true
			if usesResult(t) {
				r.results[key] = true
			}
		}
	}
	return diags
}

// evalLocals evaluates the scope's locals in dependency order.
func (s *scope) evalLocals() {
	s.locals = map[string]cty.Value{}
	pending := map[string]*hcl.Attribute{}
	deps := map[string]*refs{}
	for _, l := range s.mod.locals {
		pending[l.Name] = l
		r := newRefs()
		s.addDiags(s.collectRefs(r, l.Expr.Variables(), "", false))
		if len(r.decls) > 0 || r.each || r.count {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid local value", Detail: "Local values may refer to variables, node sets and other locals, not to resources, each or count.", Subject: l.Expr.Range().Ptr()}})
		}
		deps[l.Name] = r
	}
	for len(pending) > 0 {
		progress := false
		for _, l := range s.mod.locals {
			if _, ok := pending[l.Name]; !ok {
				continue
			}
			ready := true
			for dep := range deps[l.Name].locals {
				if _, waiting := pending[dep]; waiting {
					ready = false
				}
			}
			if !ready {
				continue
			}
			v, d := l.Expr.Value(s.ctx())
			s.addDiags(d)
			if d.HasErrors() {
				v = cty.DynamicVal
			}
			s.locals[l.Name] = v
			delete(pending, l.Name)
			progress = true
		}
		if !progress {
			var names []string
			for n := range pending {
				names = append(names, "local."+n)
			}
			sort.Strings(names)
			l := pending[strings.TrimPrefix(names[0], "local.")]
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Dependency cycle", Detail: "These local values depend on each other: " + strings.Join(names, ", ") + ".", Subject: l.Range.Ptr()}})
			for n := range pending {
				s.locals[n] = cty.DynamicVal
			}
			return
		}
	}
}

// localNodeDeps returns the node sets a local depends on, transitively.
func (s *scope) localNodeDeps(name string, seen map[string]bool) map[string]bool {
	out := map[string]bool{}
	if seen[name] {
		return out
	}
	seen[name] = true
	for _, l := range s.mod.locals {
		if l.Name != name {
			continue
		}
		r := newRefs()
		_ = s.collectRefs(r, l.Expr.Variables(), "", false)
		for n := range r.nodes {
			out[s.nodeAddr(n)] = true
		}
		for dep := range r.locals {
			for n := range s.localNodeDeps(dep, seen) {
				out[n] = true
			}
		}
	}
	return out
}

// resourceExprs returns every expression of a resource block.
func resourceTraversals(d *resourceDecl) []hcl.Traversal {
	var travs []hcl.Traversal
	for name, a := range d.meta {
		if name == "depends_on" || name == "expect" {
			continue
		}
		travs = append(travs, a.Expr.Variables()...)
	}
	travs = append(travs, hcldec.Variables(d.remain, typeSpec(d.t))...)
	if d.retry != nil {
		attrs, _ := d.retry.Body.JustAttributes()
		for _, a := range attrs {
			travs = append(travs, a.Expr.Variables()...)
		}
	}
	return travs
}

// typeSpec is the hcldec spec of a resource type's arguments.
func typeSpec(t *resources.Type) hcldec.ObjectSpec {
	spec := hcldec.ObjectSpec{}
	for _, a := range t.Args {
		ty := a.Type
		if ty == cty.NilType {
			ty = cty.DynamicPseudoType
		}
		spec[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: ty, Required: a.Required}
		if a.Default != cty.NilVal {
			spec[a.Name] = &hcldec.DefaultSpec{Primary: spec[a.Name], Default: &hcldec.LiteralSpec{Value: a.Default}}
		}
	}
	return spec
}

// evalResources evaluates the scope's resource decls in dependency order
// and then its module calls.
func (s *scope) evalResources(evalScope func(*scope)) {
	s.resVals = map[string]cty.Value{}
	declRefs := map[string]*refs{}
	var keys []string
	byKey := map[string]*resourceDecl{}
	for _, d := range s.mod.resources {
		r := newRefs()
		s.addDiags(s.collectRefs(r, resourceTraversals(d), d.key(), false))
		if e, ok := d.meta["expect"]; ok {
			s.addDiags(s.collectRefs(r, e.Expr.Variables(), d.key(), true))
		}
		s.addDiags(s.dependsOn(d.meta["depends_on"], r))
		declRefs[d.key()] = r
		keys = append(keys, d.key())
		byKey[d.key()] = d
	}
	// Placeholder values so that references type-check even across a cycle
	// (the cycle itself is reported on the instance graph).
	for _, k := range keys {
		s.resVals[k] = cty.DynamicVal
	}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(k string)
	visit = func(k string) {
		if state[k] != 0 {
			return
		}
		state[k] = 1
		for dep := range declRefs[k].decls {
			visit(dep)
		}
		s.evalDecl(byKey[k], declRefs[k])
		state[k] = 2
	}
	for _, k := range keys {
		visit(k)
	}
	for _, c := range s.mod.calls {
		s.evalCall(c, evalScope)
	}
}

// dependsOn reads a depends_on list into r.
func (s *scope) dependsOn(a *hcl.Attribute, r *refs) hcl.Diagnostics {
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
		root := t.RootName()
		if root == "var" || root == "local" || root == "nodes" || root == "each" || root == "count" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on", Detail: "depends_on lists resources (TYPE.NAME) and modules (module.NAME).", Subject: e.Range().Ptr()})
			continue
		}
		if root != "module" && len(t) > 2 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on", Detail: "depends_on names whole resources (TYPE.NAME), without an index or attribute.", Subject: e.Range().Ptr()})
			continue
		}
		diags = append(diags, s.collectRefs(r, []hcl.Traversal{t}, "", false)...)
	}
	return diags
}

// instanceKeys evaluates for_each / count of a block: nil keys means a
// single instance.
func (s *scope) instanceKeys(forEach, count *hcl.Attribute, ctx *hcl.EvalContext) ([]instKey, bool) {
	if forEach != nil {
		v, d := forEach.Expr.Value(ctx)
		s.addDiags(d)
		if d.HasErrors() {
			return nil, false
		}
		if !v.IsWhollyKnown() {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid for_each argument", Detail: "for_each must be known before anything runs: it cannot depend on node sets.", Subject: forEach.Expr.Range().Ptr()}})
			return nil, false
		}
		if v.IsNull() || !(v.Type().IsMapType() || v.Type().IsObjectType() || v.Type().IsSetType()) {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid for_each argument", Detail: "for_each takes a map, an object or a set of strings (toset([...]) for a list).", Subject: forEach.Expr.Range().Ptr()}})
			return nil, false
		}
		var keys []instKey
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if v.Type().IsSetType() {
				if k.Type() != cty.String {
					s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid for_each argument", Detail: "A set given to for_each must hold strings.", Subject: forEach.Expr.Range().Ptr()}})
					return nil, false
				}
				val = k
			}
			keys = append(keys, instKey{index: fmt.Sprintf("[%q]", k.AsString()), each: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})})
		}
		return append([]instKey{}, keys...), true
	}
	if count != nil {
		v, d := count.Expr.Value(ctx)
		s.addDiags(d)
		if d.HasErrors() {
			return nil, false
		}
		cv, err := convert.Convert(v, cty.Number)
		if err != nil || !cv.IsKnown() || cv.IsNull() {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid count argument", Detail: "count must be a whole number known before anything runs.", Subject: count.Expr.Range().Ptr()}})
			return nil, false
		}
		n, acc := cv.AsBigFloat().Int64()
		if acc != big.Exact || n < 0 {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid count argument", Detail: "count must be a whole number, 0 or more.", Subject: count.Expr.Range().Ptr()}})
			return nil, false
		}
		keys := make([]instKey, n)
		for i := range keys {
			keys[i] = instKey{index: fmt.Sprintf("[%d]", i), count: cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})}
		}
		return keys, true
	}
	return []instKey{{}}, true
}

// instKey is one instance of a for_each / count block.
type instKey struct {
	index string    // "" or ["key"] or [0]
	each  cty.Value // each object, or NilVal
	count cty.Value // count object, or NilVal
}

func (k instKey) child(ctx *hcl.EvalContext) *hcl.EvalContext {
	c := ctx.NewChild()
	c.Variables = map[string]cty.Value{}
	if k.each != cty.NilVal {
		c.Variables["each"] = k.each
	}
	if k.count != cty.NilVal {
		c.Variables["count"] = k.count
	}
	return c
}

// evalDecl expands and evaluates one resource decl.
func (s *scope) evalDecl(d *resourceDecl, r *refs) {
	ctx := s.ctxFor(r)
	keys, ok := s.instanceKeys(d.meta["for_each"], d.meta["count"], ctx)
	if !ok {
		return
	}
	_, isForEach := d.meta["for_each"]
	_, isCount := d.meta["count"]
	if !isForEach && r.each {
		s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to \"each\" in a resource without for_each", Detail: "each.key and each.value exist only in resources with for_each.", Subject: d.rng.Ptr()}})
		return
	}
	if !isCount && r.count {
		s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to \"count\" in a resource without count", Detail: "count.index exists only in resources with count.", Subject: d.rng.Ptr()}})
		return
	}
	nodeSets := map[string]bool{}
	for n := range r.nodes {
		nodeSets[s.nodeAddr(n)] = true
	}
	for l := range r.locals {
		for n := range s.localNodeDeps(l, map[string]bool{}) {
			nodeSets[n] = true
		}
	}
	if len(r.vars) > 0 {
		for n := range s.nodeDeps {
			nodeSets[n] = true
		}
	}
	for k := range r.results {
		for _, rk := range s.resultKeys(k) {
			nodeSets[rk] = true
		}
	}
	var declDeps []string
	for k := range r.decls {
		declDeps = append(declDeps, k)
	}
	sort.Strings(declDeps)
	var after []string
	for m := range r.modules {
		after = append(after, s.prefix+"module."+m)
	}
	after = append(after, s.after...)
	spec := typeSpec(d.t)
	elems := map[string]cty.Value{}
	var list []cty.Value
	for _, k := range keys {
		ictx := k.child(ctx)
		inst := &instance{addr: s.prefix + d.key() + k.index, decl: d, scope: s, ctx: ictx, nodeSets: nodeSets, declDeps: declDeps, afterPref: after}
		args, diags := hcldec.Decode(d.remain, spec, ictx)
		s.addDiags(diags)
		if diags.HasErrors() {
			args = cty.DynamicVal
		}
		inst.args = args
		inst.targets = cty.NilVal
		if t, ok := d.meta["targets"]; ok {
			inst.targets = s.evalTargets(t, ictx)
		}
		inst.static = s.evalMeta(d, ictx)
		s.insts = append(s.insts, inst)
		args = s.withResults(args, inst.addr)
		switch {
		case isForEach:
			elems[k.each.GetAttr("key").AsString()] = args
		case isCount:
			list = append(list, args)
		default:
			s.resVals[d.key()] = args
		}
	}
	if isForEach {
		s.resVals[d.key()] = cty.ObjectVal(elems)
	}
	if isCount {
		s.resVals[d.key()] = cty.TupleVal(list)
	}
}

// evalTargets evaluates a targets expression to a list of identities.
func (s *scope) evalTargets(a *hcl.Attribute, ctx *hcl.EvalContext) cty.Value {
	v, d := a.Expr.Value(ctx)
	s.addDiags(d)
	if d.HasErrors() {
		return cty.UnknownVal(cty.List(cty.String))
	}
	if v.Type() == cty.String {
		v = cty.ListVal([]cty.Value{v})
	}
	lv, err := convert.Convert(v, cty.List(cty.String))
	if err != nil {
		s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid targets", Detail: "targets must be a list of node identities, usually a node set such as nodes.web: " + err.Error() + ".", Subject: a.Expr.Range().Ptr()}})
		return cty.UnknownVal(cty.List(cty.String))
	}
	return lv
}

// evalMeta evaluates the meta-arguments known at compile time.
func (s *scope) evalMeta(d *resourceDecl, ctx *hcl.EvalContext) staticMeta {
	var m staticMeta
	str := func(a *hcl.Attribute) (string, bool) {
		v, diags := a.Expr.Value(ctx)
		s.addDiags(diags)
		if diags.HasErrors() {
			return "", false
		}
		cv, err := convert.Convert(v, cty.String)
		if err != nil || !cv.IsKnown() || cv.IsNull() {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: a.Name + " must be a string known before anything runs.", Subject: a.Expr.Range().Ptr()}})
			return "", false
		}
		return cv.AsString(), true
	}
	dur := func(a *hcl.Attribute) time.Duration {
		txt, ok := str(a)
		if !ok {
			return 0
		}
		dd, err := time.ParseDuration(txt)
		if err != nil || dd < 0 {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: fmt.Sprintf("%q is not a duration such as \"30s\" or \"5m\".", txt), Subject: a.Expr.Range().Ptr()}})
			return 0
		}
		return dd
	}
	num := func(a *hcl.Attribute, minimum int64) int {
		v, diags := a.Expr.Value(ctx)
		s.addDiags(diags)
		if diags.HasErrors() {
			return 0
		}
		cv, err := convert.Convert(v, cty.Number)
		if err == nil && cv.IsKnown() && !cv.IsNull() {
			if n, acc := cv.AsBigFloat().Int64(); acc == big.Exact && n >= minimum {
				return int(n)
			}
		}
		s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: fmt.Sprintf("%s must be a whole number of at least %d, known before anything runs.", a.Name, minimum), Subject: a.Expr.Range().Ptr()}})
		return 0
	}
	boolean := func(a *hcl.Attribute) bool {
		v, diags := a.Expr.Value(ctx)
		s.addDiags(diags)
		if diags.HasErrors() {
			return false
		}
		cv, err := convert.Convert(v, cty.Bool)
		if err != nil || !cv.IsKnown() || cv.IsNull() {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: a.Name + " must be true or false.", Subject: a.Expr.Range().Ptr()}})
			return false
		}
		return cv.True()
	}
	if a, ok := d.meta["description"]; ok {
		m.description, _ = str(a)
	}
	if a, ok := d.meta["batch_size"]; ok {
		m.batchSize = num(a, 1)
	}
	if a, ok := d.meta["batch_sleep"]; ok {
		m.batchSleep = dur(a)
	}
	if a, ok := d.meta["timeout"]; ok {
		m.timeout = dur(a)
	}
	if a, ok := d.meta["any_one"]; ok {
		m.anyOne = boolean(a)
	} else if d.t != nil {
		m.anyOne = d.t.AnyOne
	}
	if a, ok := d.meta["fail_ok"]; ok {
		m.failOK = boolean(a)
	}
	if a, ok := d.meta["noop"]; ok {
		m.noop = boolean(a)
	}
	if d.retry != nil {
		c, diags := d.retry.Body.Content(retrySchema)
		s.addDiags(suggestArgs(diags, retrySchema))
		if a, ok := c.Attributes["attempts"]; ok {
			m.retry.Attempts = num(a, 1)
		}
		if a, ok := c.Attributes["interval"]; ok {
			m.retry.Interval = dur(a)
		}
		if a, ok := c.Attributes["timeout"]; ok {
			m.retry.Timeout = dur(a)
		}
		if len(c.Attributes) == 0 {
			s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Empty retry block", Detail: "retry needs attempts, timeout or both (and optionally interval), e.g. retry { timeout = \"100s\" interval = \"5s\" }.", Subject: d.retry.DefRange.Ptr()}})
		}
		if m.retry.Interval == 0 {
			m.retry.Interval = 5 * time.Second
		}
	}
	return m
}

// evalCall instantiates a module call.
func (s *scope) evalCall(c *moduleCall, evalScope func(*scope)) {
	ctx := s.ctx()
	r := newRefs()
	var travs []hcl.Traversal
	for _, a := range c.inputs {
		travs = append(travs, a.Expr.Variables()...)
	}
	if c.forEach != nil {
		travs = append(travs, c.forEach.Expr.Variables()...)
	}
	s.addDiags(s.collectRefs(r, travs, "", false))
	s.addDiags(s.dependsOn(c.dependsOn, r))
	keys, ok := s.instanceKeys(c.forEach, c.count, ctx)
	if !ok {
		return
	}
	nodeDeps := map[string]bool{}
	for n := range r.nodes {
		nodeDeps[s.nodeAddr(n)] = true
	}
	for l := range r.locals {
		for n := range s.localNodeDeps(l, map[string]bool{}) {
			nodeDeps[n] = true
		}
	}
	for n := range s.nodeDeps {
		nodeDeps[n] = true
	}
	for k := range r.results {
		for _, rk := range s.resultKeys(k) {
			nodeDeps[rk] = true
		}
	}
	after := append([]string{}, s.after...)
	for k := range r.decls {
		after = append(after, s.prefix+k)
	}
	for m := range r.modules {
		after = append(after, s.prefix+"module."+m)
	}
	for _, k := range keys {
		ictx := k.child(ctx)
		vars := map[string]cty.Value{}
		for _, v := range c.child.vars {
			a, given := c.inputs[v.name]
			var val cty.Value
			src := rawValue{source: fmt.Sprintf("module %q", c.name)}
			switch {
			case given:
				var d hcl.Diagnostics
				val, d = a.Expr.Value(ictx)
				s.addDiags(d)
				if d.HasErrors() {
					val = cty.DynamicVal
				}
				src.rng = a.Range
			case v.def != nil:
				var d hcl.Diagnostics
				val, d = v.def.Expr.Value(nil)
				s.addDiags(d)
			default:
				s.addDiags(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Missing required argument", Detail: fmt.Sprintf("Module %q needs the input %q (its variable has no default).", c.name, v.name), Subject: c.rng.Ptr()}})
				val = cty.DynamicVal
			}
			if val.IsKnown() {
				cv, d := convertVar(v, val, src)
				s.addDiags(d)
				val = cv
			} else {
				val = cty.UnknownVal(v.typ)
			}
			vars[v.name] = val
		}
		child := &scope{
			prefix: s.prefix + "module." + c.name + k.index + ".", mod: c.child, vars: vars, funcs: s.funcs,
			nodeVals: s.nodeVals, nodeDeps: nodeDeps, after: after, diags: s.diags,
		}
		s.addDiags(checkValidations(c.child, knownOnly(vars), s.funcs))
		evalScope(child)
		s.insts = append(s.insts, child.insts...)
	}
}

func knownOnly(vars map[string]cty.Value) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range vars {
		if v.IsWhollyKnown() {
			out[k] = v
		}
	}
	return out
}
