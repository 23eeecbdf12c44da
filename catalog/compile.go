package catalog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/resources"
)

// program is a parsed playbook with its root variable values; evaluate
// runs it for a given state of discovery.
type program struct {
	root  *module
	vars  map[string]cty.Value
	funcs evalFuncs

	mu    sync.Mutex
	cache map[string]*evaluation
}

// evaluation is the result of evaluating the playbook once.
type evaluation struct {
	insts    []*instance
	byAddr   map[string]*instance
	nodeSets map[string]*NodeSet
	lock     string
	diags    hcl.Diagnostics
}

// Load compiles the playbook at path (a file or a directory of *.hcl and
// *.hcl.json files) into a catalog. Every problem found is returned as an
// HCL diagnostic with its source range; the catalog is nil when any is an
// error. Nothing is sent to the fleet.
func Load(path string, reg resources.Registry, o LoadOptions) (*Catalog, hcl.Diagnostics) {
	ps := &parser{p: hclparse.NewParser(), reg: reg}
	root, diags := ps.parseModule(path, nil)
	if root == nil {
		return nil, diags
	}
	// Go on after errors in some blocks, so that every error of the
	// playbook is reported at once; stop before evaluating only when the
	// variables themselves are wrong (everything would fail after that).
	vars, d := rootVarValues(ps, root, o)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, dedupe(diags)
	}
	p := &program{root: root, vars: vars, funcs: functions(), cache: map[string]*evaluation{}}
	d = checkValidations(root, vars, p.funcs)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, dedupe(diags)
	}
	ev := p.evaluate(nil)
	diags = append(diags, ev.diags...)
	if diags.HasErrors() {
		return nil, dedupe(diags)
	}
	cat, d := p.catalog(ev)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	if o.Schemas != nil {
		diags = append(diags, checkRequests(ev, reg, o.Schemas)...)
		if diags.HasErrors() {
			return nil, diags
		}
	}
	return cat, diags
}

// checkRequests builds each instance's request from its arguments, where
// they are known before discovery, and checks it against the agent's
// schema: the action exists and takes these inputs. Agents without a known
// schema (a site's own providers) are left to the node to judge.
func checkRequests(ev *evaluation, reg resources.Registry, schemas func(string) *ddl.Agent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, in := range ev.insts {
		t, ok := reg.Lookup(in.decl.typeName)
		if !ok || !in.args.IsWhollyKnown() {
			continue
		}
		args, ok := knownArgs(in.args)
		if !ok {
			continue
		}
		req, err := t.Request(args)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid resource arguments", Detail: fmt.Sprintf("%s: %v.", in.addr, err), Subject: in.decl.rng.Ptr()})
			continue
		}
		agent := schemas(req.Agent)
		if agent == nil {
			continue
		}
		// Point at the argument at fault when the body has one by that
		// name, else at the resource.
		at := func(names ...string) *hcl.Range {
			if sb, ok := in.decl.remain.(*hclsyntax.Body); ok {
				for _, n := range names {
					if a, ok := sb.Attributes[n]; ok {
						return a.Expr.Range().Ptr()
					}
				}
			}
			return in.decl.rng.Ptr()
		}
		act, ok := agent.Action(req.Action)
		if !ok {
			detail := fmt.Sprintf("%s: the %s agent has no action %q (it has: %s).", in.addr, req.Agent, req.Action, strings.Join(agent.ActionNames(), ", "))
			if sug := suggest(req.Action, agent.ActionNames()); sug != "" {
				detail += fmt.Sprintf(" Did you mean %q?", sug)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown action", Detail: detail, Subject: at("action")})
			continue
		}
		if _, err := act.Validate(req.Input); err != nil {
			subject := in.decl.rng.Ptr()
			var de *ddl.Error
			if errors.As(err, &de) && de.Input != "" {
				subject = at(de.Input, "inputs") // a typed argument, or rpc's inputs
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid input", Detail: fmt.Sprintf("%s: %s.%s refuses its input: %v.", in.addr, req.Agent, req.Action, err), Subject: subject})
		}
	}
	return diags
}

// evaluate runs the playbook with the node sets in known resolved (others
// unknown), memoised by what is known.
func (p *program) evaluate(known Resolved) *evaluation {
	key := resolvedKey(known)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev, ok := p.cache[key]; ok {
		return ev
	}
	nodeVals := map[string]cty.Value{}
	for addr, ids := range known {
		vals := make([]cty.Value, len(ids))
		for i, id := range ids {
			vals[i] = cty.StringVal(id)
		}
		if len(vals) == 0 {
			nodeVals[addr] = cty.ListValEmpty(cty.String)
		} else {
			nodeVals[addr] = cty.ListVal(vals)
		}
	}
	ev := &evaluation{byAddr: map[string]*instance{}, nodeSets: map[string]*NodeSet{}}
	var evalScope func(s *scope)
	evalScope = func(s *scope) {
		for _, n := range s.mod.nodes {
			if _, ok := nodeVals[s.nodeAddr(n.name)]; !ok {
				nodeVals[s.nodeAddr(n.name)] = cty.UnknownVal(cty.List(cty.String))
			}
		}
		s.evalLocals()
		for _, n := range s.mod.nodes {
			ns, d := s.evalNodeSet(n)
			s.addDiags(d)
			if ns != nil {
				ev.nodeSets[ns.Addr] = ns
			}
		}
		s.evalResources(evalScope)
	}
	root := &scope{mod: p.root, vars: p.vars, funcs: p.funcs, nodeVals: nodeVals, nodeDeps: map[string]bool{}, diags: &ev.diags}
	evalScope(root)
	if p.root.lock != nil {
		v, d := p.root.lock.Expr.Value(root.ctx())
		ev.diags = append(ev.diags, d...)
		if cv, err := convert.Convert(v, cty.String); !d.HasErrors() && (err != nil || !cv.IsKnown() || cv.IsNull() || cv.AsString() == "") {
			ev.diags = append(ev.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid lock", Detail: "lock must be a non-empty string known before anything runs, e.g. lock = \"webapp-${var.cluster}\".", Subject: p.root.lock.Expr.Range().Ptr()})
		} else if err == nil && cv.IsKnown() && !cv.IsNull() {
			ev.lock = cv.AsString()
		}
	}
	ev.insts = root.insts
	for _, in := range ev.insts {
		ev.byAddr[in.addr] = in
	}
	p.cache[key] = ev
	return ev
}

// dedupe drops an evaluation error reported at a place where orch already
// reported a clearer one (an undeclared reference also fails evaluation).
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	key := func(d *hcl.Diagnostic) string {
		if d.Subject == nil {
			return ""
		}
		return fmt.Sprintf("%s:%d", d.Subject.Filename, d.Subject.Start.Line)
	}
	var out hcl.Diagnostics
	for _, d := range diags {
		k := key(d)
		generic := d.Summary == "Unsupported attribute" || d.Summary == "Unknown variable"
		if k != "" && ((generic && seen[k]) || seen[k+d.Summary]) {
			continue
		}
		if k != "" {
			seen[k] = true
			seen[k+d.Summary] = true
		}
		out = append(out, d)
	}
	return out
}

func resolvedKey(r Resolved) string {
	var parts []string
	for addr, ids := range r {
		parts = append(parts, addr+"="+strings.Join(ids, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// evalNodeSet evaluates a nodes block into a filter.
func (s *scope) evalNodeSet(n *nodesDecl) (*NodeSet, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	ctx := s.ctx()
	ns := &NodeSet{Addr: s.nodeAddr(n.name), Pos: n.rng.String()}
	r := newRefs()
	for _, a := range n.attrs {
		diags = append(diags, s.collectRefs(r, a.Expr.Variables(), "", false)...)
	}
	if len(r.nodes) > 0 || len(r.decls) > 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid node set", Detail: "A node set's filter may use variables and locals, not other node sets or resources.", Subject: n.rng.Ptr()})
		return nil, diags
	}
	if diags.HasErrors() {
		return nil, diags
	}
	value := func(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			return cty.NilVal, false
		}
		if ty == cty.List(cty.String) && v.Type() == cty.String {
			v = cty.ListVal([]cty.Value{v})
		}
		cv, err := convert.Convert(v, ty)
		if err != nil || !cv.IsWhollyKnown() || cv.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: fmt.Sprintf("%s must be %s known before discovery.", a.Name, ty.FriendlyName()), Subject: a.Expr.Range().Ptr()})
			return cty.NilVal, false
		}
		return cv, true
	}
	if a, ok := n.attrs["fact"]; ok {
		if v, ok := value(a, cty.Map(cty.String)); ok {
			keys := v.AsValueMap()
			var names []string
			for k := range keys {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				ff, err := fleet.NewFactFilter(k, keys[k].AsString())
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid fact filter", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
					continue
				}
				ns.Filter.Facts = append(ns.Filter.Facts, ff)
			}
		}
	}
	list := func(name string) []string {
		a, ok := n.attrs[name]
		if !ok {
			return nil
		}
		v, ok := value(a, cty.List(cty.String))
		if !ok {
			return nil
		}
		var out []string
		for _, e := range v.AsValueSlice() {
			out = append(out, e.AsString())
		}
		return out
	}
	ns.Filter.Classes, ns.Filter.Agents, ns.Filter.Identities = list("class"), list("agent"), list("identity")
	if err := ns.Filter.Validate(); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid node set filter", Detail: err.Error(), Subject: n.rng.Ptr()})
	}
	for _, name := range []string{"min", "max"} {
		a, ok := n.attrs[name]
		if !ok {
			continue
		}
		v, ok := value(a, cty.Number)
		if !ok {
			continue
		}
		i, acc := v.AsBigFloat().Int64()
		if acc != 0 || i < 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + name, Detail: name + " must be a whole number, 0 or more.", Subject: a.Expr.Range().Ptr()})
			continue
		}
		if name == "min" {
			ns.Min = int(i)
		} else {
			ns.Max = int(i)
		}
	}
	if ns.Max > 0 && ns.Min > ns.Max {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid node set", Detail: fmt.Sprintf("min (%d) is larger than max (%d).", ns.Min, ns.Max), Subject: n.rng.Ptr()})
	}
	return ns, diags
}

// catalog builds the instance graph, checks it for cycles and produces the
// catalog in topological order.
func (p *program) catalog(ev *evaluation) (*Catalog, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	g := simple.NewDirectedGraph()
	nodes := map[string]*gnode{}
	for i, in := range ev.insts {
		n := &gnode{id: int64(i), inst: in}
		nodes[in.addr] = n
		g.AddNode(n)
	}
	// Instances by scope and decl key, so that each reference costs the
	// instances it names rather than a scan of the whole playbook.
	type declRef struct {
		scope *scope
		key   string
	}
	byDecl := map[declRef][]*instance{}
	for _, in := range ev.insts {
		k := declRef{in.scope, in.decl.key()}
		byDecl[k] = append(byDecl[k], in)
	}
	deps := map[string]map[string]bool{}
	for _, in := range ev.insts {
		deps[in.addr] = map[string]bool{}
		for _, dk := range in.declDeps {
			for _, other := range byDecl[declRef{in.scope, dk}] {
				deps[in.addr][other.addr] = true
			}
		}
		for _, pref := range in.afterPref {
			for _, other := range ev.insts {
				if other.addr != in.addr && underPrefix(other.addr, pref) {
					deps[in.addr][other.addr] = true
				}
			}
		}
		for dep := range deps[in.addr] {
			g.SetEdge(g.NewEdge(nodes[dep], nodes[in.addr]))
		}
	}
	sorted, err := topo.SortStabilized(g, func(ns []graph.Node) {
		sort.Slice(ns, func(i, j int) bool { return ns[i].(*gnode).inst.addr < ns[j].(*gnode).inst.addr })
	})
	var u topo.Unorderable
	if errors.As(err, &u) {
		for _, scc := range u {
			diags = append(diags, cycleDiag(g, scc))
		}
		return nil, diags
	}
	cat := &Catalog{Lock: ev.lock, NodeSets: ev.nodeSets}
	for _, n := range sorted {
		in := n.(*gnode).inst
		r := p.resource(in)
		for dep := range deps[in.addr] {
			r.DependsOn = append(r.DependsOn, dep)
		}
		sort.Strings(r.DependsOn)
		cat.Resources = append(cat.Resources, r)
	}
	return cat, diags
}

// underPrefix reports whether addr is the module instance or resource
// pref, or inside it.
func underPrefix(addr, pref string) bool {
	if !strings.HasPrefix(addr, pref) {
		return false
	}
	rest := addr[len(pref):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

type gnode struct {
	id   int64
	inst *instance
}

func (n *gnode) ID() int64      { return n.id }
func (n *gnode) String() string { return n.inst.addr }

// cycleDiag names one cycle of an SCC as a path with each location.
func cycleDiag(g *simple.DirectedGraph, scc []graph.Node) *hcl.Diagnostic {
	sub := simple.NewDirectedGraph()
	in := map[int64]bool{}
	for _, n := range scc {
		in[n.ID()] = true
		sub.AddNode(n)
	}
	for _, n := range scc {
		to := g.From(n.ID())
		for to.Next() {
			if in[to.Node().ID()] {
				sub.SetEdge(sub.NewEdge(n, to.Node()))
			}
		}
	}
	cycles := topo.DirectedCyclesIn(sub)
	var path []string
	var locs []string
	first := scc[0].(*gnode).inst
	if len(cycles) > 0 {
		c := cycles[0]
		for _, n := range c {
			path = append(path, n.(*gnode).inst.addr)
		}
		for _, n := range c[:len(c)-1] {
			inst := n.(*gnode).inst
			locs = append(locs, fmt.Sprintf("  %s at %s", inst.addr, inst.decl.rng))
		}
		first = c[0].(*gnode).inst
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle",
		Detail:  fmt.Sprintf("These resources depend on each other: %s\n%s", strings.Join(path, " -> "), strings.Join(locs, "\n")),
		Subject: first.decl.rng.Ptr()}
}

// resource turns an instance into its catalog entry, with closures that
// re-evaluate the playbook once node sets are resolved.
func (p *program) resource(in *instance) *Resource {
	r := &Resource{
		Addr: in.addr, Type: in.decl.typeName, Module: strings.TrimSuffix(in.scope.prefix, "."),
		Description: in.static.description, Pos: in.decl.rng.String(),
		BatchSize: in.static.batchSize, BatchSleep: in.static.batchSleep, Timeout: in.static.timeout,
		Retry: in.static.retry, AnyOne: in.static.anyOne, FailOK: in.static.failOK, NoOp: in.static.noop,
	}
	for ns := range in.nodeSets {
		r.NodeSets = append(r.NodeSets, ns)
	}
	sort.Strings(r.NodeSets)
	if in.args.IsKnown() {
		if m, ok := knownArgs(in.args); ok {
			r.Static = m
		}
	} else {
		r.Static = map[string]any{}
	}
	addr := in.addr
	lookup := func(res Resolved) (*instance, error) {
		ev := p.evaluate(res)
		if ev.diags.HasErrors() {
			return nil, errors.New(diagsText(ev.diags))
		}
		i, ok := ev.byAddr[addr]
		if !ok {
			return nil, fmt.Errorf("%s: no such resource instance after discovery", addr)
		}
		return i, nil
	}
	late := &lateEval{}
	r.Late = late
	if in.targets != cty.NilVal {
		r.HasTargets = true
		late.targets = func(res Resolved) ([]string, error) {
			i, err := lookup(res)
			if err != nil {
				return nil, err
			}
			if !i.targets.IsWhollyKnown() {
				return nil, fmt.Errorf("%s: targets are not known: resolve node sets %v first", addr, r.NodeSets)
			}
			var ids []string
			for _, v := range i.targets.AsValueSlice() {
				if !v.IsNull() {
					ids = append(ids, v.AsString())
				}
			}
			return ids, nil
		}
	}
	late.args = func(res Resolved) (map[string]any, error) {
		i, err := lookup(res)
		if err != nil {
			return nil, err
		}
		if !i.args.IsWhollyKnown() {
			return nil, fmt.Errorf("%s: arguments are not known: resolve node sets %v first", addr, r.NodeSets)
		}
		m, _ := knownArgs(i.args)
		return m, nil
	}
	if e, ok := in.decl.meta["expect"]; ok {
		expr := e.Expr
		late.expect = func(reply *fleet.Reply) error {
			i, err := lookup(nil)
			if err != nil {
				return err
			}
			data, err := goToCty(reply.Data)
			if err != nil {
				return fmt.Errorf("expect: reply data is not JSON: %w", err)
			}
			ctx := i.ctx.NewChild()
			ctx.Variables = map[string]cty.Value{"reply": cty.ObjectVal(map[string]cty.Value{
				"identity": cty.StringVal(reply.Identity), "status": cty.StringVal(string(reply.Status)),
				"message": cty.StringVal(reply.Message), "changed": cty.BoolVal(reply.Changed), "data": data,
			})}
			v, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return fmt.Errorf("expect: %s", diagsText(diags))
			}
			if v.Type() != cty.Bool || !v.IsKnown() || v.IsNull() {
				return errors.New("expect: the expression must be true or false")
			}
			if v.False() {
				return fmt.Errorf("expect failed: %s", exprText(expr))
			}
			return nil
		}
	}
	return r
}

// knownArgs converts an argument object to Go values; unknown attributes
// are left out.
func knownArgs(v cty.Value) (map[string]any, bool) {
	if v.IsNull() || !v.Type().IsObjectType() {
		return map[string]any{}, false
	}
	out := map[string]any{}
	all := true
	for k, av := range v.AsValueMap() {
		if !av.IsWhollyKnown() {
			all = false
			continue
		}
		g, err := ctyToGo(av)
		if err != nil {
			all = false
			continue
		}
		out[k] = g
	}
	return out, all
}

func diagsText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		s := d.Summary + ": " + d.Detail
		if d.Subject != nil {
			s = d.Subject.String() + ": " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func exprText(e hcl.Expression) string {
	rng := e.Range()
	b, err := os.ReadFile(rng.Filename)
	if err != nil || rng.End.Byte > len(b) {
		return rng.String()
	}
	return string(b[rng.Start.Byte:rng.End.Byte])
}

// WriteDiagnostics prints diagnostics with source snippets (the files are
// read again from disk) and returns how many were errors.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, color bool) int {
	files := map[string]*hcl.File{}
	errs := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		}
		if d.Subject == nil {
			continue
		}
		if _, ok := files[d.Subject.Filename]; !ok {
			if b, err := os.ReadFile(d.Subject.Filename); err == nil {
				files[d.Subject.Filename] = &hcl.File{Bytes: b}
			}
		}
	}
	wr := hcl.NewDiagnosticTextWriter(w, files, 100, color)
	_ = wr.WriteDiagnostics(diags)
	return errs
}

// lateEval re-evaluates the playbook once node sets are resolved.
type lateEval struct {
	targets func(Resolved) ([]string, error)
	args    func(Resolved) (map[string]any, error)
	expect  func(*fleet.Reply) error
}

func (l *lateEval) Targets(res Resolved) ([]string, error) {
	if l.targets == nil {
		return nil, nil
	}
	return l.targets(res)
}

func (l *lateEval) Args(res Resolved) (map[string]any, error) { return l.args(res) }

func (l *lateEval) Expect(rep *fleet.Reply) error {
	if l.expect == nil {
		return nil
	}
	return l.expect(rep)
}

func (l *lateEval) HasExpect() bool { return l.expect != nil }
