package playbook

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/orch-fleet/orch/catalog"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The evaluate pass: each module instance evaluates its declarations in the
// order of its declaration graph, expanding for_each and count into
// resource instances (a later declaration may refer to the values of an
// earlier one's instances). Late evaluation (catalog.Late) runs the same code again
// once node sets are resolved.

func nowUTC() time.Time { return time.Now().UTC() }

// program is a checked playbook with its root variable values; evaluate
// runs it for a given state of discovery.
type program struct {
	root   *module
	vars   map[string]cty.Value
	funcs  evalFuncs
	files  map[string]*hcl.File // the parser's files, for expression text
	limits limits

	mu    sync.Mutex
	cache map[string]*evaluation
}

// evaluation is the result of evaluating the playbook once.
type evaluation struct {
	insts    []*instance
	byAddr   map[string]*instance
	nodeSets map[string]*catalog.NodeSet
	nodeVals map[string]cty.Value // node set address (or result key) -> identities, unknown before discovery
	lock     string
	sink     diagSink
	limits   limits
	budget   budget // resource and module instances against limits.perCatalog
	// rollouts are the module instances applied batch by batch, by address.
	rollouts      map[string]*catalog.Rollout
	rolloutRanges map[string]hcl.Range // the rollout blocks, for diagnostics
}

// diagSink collects evaluation diagnostics. Evaluation runs a declaration
// once per instance (count, for_each, module instances): a diagnostic at a
// source range is kept once per declaration (its site), the first
// instance's report standing for the others.
type diagSink struct {
	diags hcl.Diagnostics
	seen  map[sinkKey]bool
}

type sinkKey struct{ site, subject hcl.Range }

// add records one instance's diagnostics for the declaration at site.
func (s *diagSink) add(site hcl.Range, diags hcl.Diagnostics) {
	if s.seen == nil {
		s.seen = map[sinkKey]bool{}
	}
	n := len(s.diags)
	for _, d := range diags {
		if d.Subject == nil || !s.seen[sinkKey{site, *d.Subject}] {
			s.diags = append(s.diags, d)
		}
	}
	for _, d := range s.diags[n:] {
		if d.Subject != nil {
			s.seen[sinkKey{site, *d.Subject}] = true
		}
	}
}

// evaluate is the evaluate pass.
func (c *compiler) evaluate() hcl.Diagnostics {
	c.prog = &program{root: c.root, vars: c.vars, funcs: c.funcs, files: c.parser.Files(), cache: map[string]*evaluation{}, limits: newLimits(c.opts)}
	c.ev = c.prog.evaluate(nil)
	return c.ev.sink.diags
}

// evaluate runs the playbook with the node sets in known resolved (others
// unknown), memoised by what is known.
func (p *program) evaluate(known catalog.Resolved) *evaluation {
	key := resolvedKey(known)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev, ok := p.cache[key]; ok {
		return ev
	}
	ev := &evaluation{byAddr: map[string]*instance{}, nodeSets: map[string]*catalog.NodeSet{}, nodeVals: map[string]cty.Value{},
		limits: p.limits, budget: budget{limit: p.limits.perCatalog}, rollouts: map[string]*catalog.Rollout{}, rolloutRanges: map[string]hcl.Range{}}
	for addr, ids := range known {
		vals := make([]cty.Value, len(ids))
		for i, id := range ids {
			vals[i] = cty.StringVal(id)
		}
		ev.nodeVals[addr] = cty.ListValEmpty(cty.String)
		if len(vals) > 0 {
			ev.nodeVals[addr] = cty.ListVal(vals)
		}
	}
	root := &scope{mod: p.root, vars: p.vars, funcs: p.funcs, ev: ev, nodeDeps: map[string]bool{}}
	root.run()
	if p.root.lock != nil {
		ev.lock = root.evalLock(p.root.lock)
	}
	ev.insts = root.insts
	for _, in := range ev.insts {
		ev.byAddr[in.addr] = in
	}
	p.cache[key] = ev
	return ev
}

func resolvedKey(r catalog.Resolved) string {
	var parts []string
	for addr, ids := range r {
		parts = append(parts, addr+"="+strings.Join(ids, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// scope is one module instance: the root, or module.NAME[KEY].
type scope struct {
	prefix string // "" or `module.lb.` or `module.lb["a"].`
	mod    *module
	vars   map[string]cty.Value
	locals map[string]cty.Value
	funcs  evalFuncs
	ev     *evaluation
	// nodeDeps are node sets this scope's variables may depend on (the
	// module call's expressions and the parent's own), over-approximated.
	nodeDeps map[string]bool
	// after are instance-address prefixes every resource of the scope
	// depends on (the module call's depends_on, inherited).
	after []string
	// rollout is the address of the rollout the scope's resources belong
	// to ("" = none): the innermost module call with a rollout block.
	rollout string
	// values of resource decls, by "type.name", for references.
	resVals map[string]cty.Value
	// instances produced in this scope (and its module instances), and
	// this scope's own by decl key.
	insts  []*instance
	byDecl map[string][]*instance
}

func (s *scope) nodeAddr(name string) string { return s.prefix + "nodes." + name }

// run evaluates the scope's declarations in graph order. Every local and
// resource starts as an unknown placeholder, so that the members of a
// cycle (reported by the references pass) evaluate without further noise.
func (s *scope) run() {
	s.locals, s.resVals, s.byDecl = map[string]cty.Value{}, map[string]cty.Value{}, map[string][]*instance{}
	for _, l := range s.mod.locals {
		s.locals[l.Name] = cty.DynamicVal
	}
	for _, r := range s.mod.resources {
		s.resVals[r.key()] = cty.DynamicVal
	}
	for _, n := range s.mod.nodes {
		if _, ok := s.ev.nodeVals[s.nodeAddr(n.name)]; !ok {
			s.ev.nodeVals[s.nodeAddr(n.name)] = cty.UnknownVal(cty.List(cty.String))
		}
	}
	for _, d := range s.mod.graph.order {
		if s.ev.budget.over {
			return // reported once; expanding further would only cost
		}
		if d.bad {
			continue
		}
		switch d.kind {
		case kindLocal:
			ctx := s.ctx()
			v, diags := d.local.Expr.Value(ctx)
			diags = append(diags, checkTemplates(templatesOf(d.local.Expr), ctx)...)
			s.ev.sink.add(d.rng, diags)
			if !diags.HasErrors() {
				s.locals[d.local.Name] = v
			}
		case kindNodes:
			ns, diags := s.evalNodeSet(d.nodes)
			s.ev.sink.add(d.rng, diags)
			if ns != nil {
				s.ev.nodeSets[ns.Addr] = ns
			}
		case kindResource:
			s.evalDecl(d)
		case kindModule:
			s.evalCall(d)
		}
	}
}

// ctx builds the evaluation context of the scope.
func (s *scope) ctx() *hcl.EvalContext { return s.ctxFor(nil) }

// ctxFor is ctx holding only the resources r refers to, so that evaluating
// each resource costs what it references, not the size of the playbook.
// A nil r holds every resource. Names the references pass reported as
// undeclared are unknown values.
func (s *scope) ctxFor(r *refs) *hcl.EvalContext {
	h := &s.mod.graph.holes
	nodes := map[string]cty.Value{}
	for _, n := range s.mod.nodes {
		nodes[n.name] = s.ev.nodeVals[s.nodeAddr(n.name)]
	}
	vars := map[string]cty.Value{
		"var":   withHoles(s.vars, h.attrs["var"]),
		"local": withHoles(s.locals, h.attrs["local"]),
		"nodes": withHoles(nodes, h.attrs["nodes"]),
	}
	for root := range h.roots {
		vars[root] = cty.DynamicVal
	}
	if mods := s.moduleResults(); mods != cty.NilVal {
		vars["module"] = mods
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
			add(key, s.resVals[key])
		}
		if r.self != "" {
			add(r.self, s.resVals[r.self])
		}
	}
	for t, m := range byType {
		vars[t] = withHoles(m, h.attrs[t])
	}
	return &hcl.EvalContext{Variables: vars, Functions: s.funcs}
}

// moduleResults is the value of `module` in expressions: the results of
// the scope's rollout module calls (module.NAME.failed_nodes ...), known
// once the rollout ran; NilVal when the scope calls no rollout.
func (s *scope) moduleResults() cty.Value {
	mods := map[string]cty.Value{}
	for _, c := range s.mod.calls {
		if c.rollout == nil || c.count != nil || c.forEach != nil {
			mods[c.name] = cty.DynamicVal // no results: reported by the references pass
			continue
		}
		attrs := map[string]cty.Value{}
		for _, a := range catalog.ResultAttrs() {
			attrs[a] = cty.UnknownVal(cty.List(cty.String))
			if v, ok := s.ev.nodeVals[catalog.ResultKey(s.prefix+"module."+c.name, a)]; ok {
				attrs[a] = v
			}
		}
		mods[c.name] = cty.ObjectVal(attrs)
	}
	if len(mods) == 0 {
		return cty.NilVal
	}
	return cty.ObjectVal(mods)
}

// withHoles is the object of vals plus an unknown value for each hole.
func withHoles(vals map[string]cty.Value, names map[string]bool) cty.Value {
	if len(names) == 0 {
		return cty.ObjectVal(vals)
	}
	all := make(map[string]cty.Value, len(vals)+len(names))
	for k, v := range vals {
		all[k] = v
	}
	for n := range names {
		all[n] = cty.DynamicVal
	}
	return cty.ObjectVal(all)
}

// evalLock evaluates the playbook's lock name.
func (s *scope) evalLock(a *hcl.Attribute) string {
	v, diags := a.Expr.Value(s.ctx())
	defer func() { s.ev.sink.add(a.Range, diags) }()
	if diags.HasErrors() {
		return ""
	}
	cv, err := convert.Convert(v, cty.String)
	if err != nil || !cv.IsKnown() || cv.IsNull() || cv.AsString() == "" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid lock", Detail: "lock must be a non-empty string known before anything runs, e.g. lock = \"webapp-${var.cluster}\".", Subject: a.Expr.Range().Ptr()})
		return ""
	}
	return cv.AsString()
}

// nodeSetsOf returns the node sets (and result keys) what r refers to may
// depend on; inherit adds the node sets the scope's variables may depend
// on.
func (s *scope) nodeSetsOf(r *refs, inherit bool) map[string]bool {
	out := map[string]bool{}
	for n := range r.nodes {
		out[s.nodeAddr(n)] = true
	}
	for l := range r.locals {
		for n := range s.mod.graph.localNodes[l] {
			out[s.nodeAddr(n)] = true
		}
	}
	if inherit {
		for n := range s.nodeDeps {
			out[n] = true
		}
	}
	for k := range r.results {
		for _, in := range s.byDecl[k] {
			for _, a := range catalog.ResultAttrs() {
				out[catalog.ResultKey(in.addr, a)] = true
			}
		}
	}
	for m := range r.moduleResults {
		for _, a := range catalog.ResultAttrs() {
			out[catalog.ResultKey(s.prefix+"module."+m, a)] = true
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
	for _, a := range catalog.ResultAttrs() {
		if v, ok := s.ev.nodeVals[catalog.ResultKey(addr, a)]; ok {
			attrs[a] = v
		} else {
			attrs[a] = cty.UnknownVal(cty.List(cty.String))
		}
	}
	return cty.ObjectVal(attrs)
}
