package playbook

import (
	"sort"

	"github.com/hashicorp/hcl/v2"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
)

// declKind is what a declaration is.
type declKind int

const (
	kindLocal declKind = iota
	kindNodes
	kindResource
	kindModule
)

// decl is a vertex of a module's declaration reference graph.
type decl struct {
	id   int64
	kind declKind
	addr string // within the module: local.NAME, nodes.NAME, TYPE.NAME, module.NAME
	rng  hcl.Range
	refs *refs
	// bad is set when its references are invalid in a way evaluating it
	// would only report again: it is not evaluated.
	bad   bool
	local *hcl.Attribute
	nodes *nodesDecl
	res   *resourceDecl
	call  *moduleCall
}

func (d *decl) ID() int64        { return d.id }
func (d *decl) String() string   { return d.addr }
func (d *decl) address() string  { return d.addr }
func (d *decl) place() hcl.Range { return d.rng }

// declGraph is a module's declarations in evaluation order.
type declGraph struct {
	// order lists dependencies first; the members of a cycle (reported)
	// come last, in declaration order.
	order []*decl
	holes holes
	// localNodes are the node sets each local uses, directly or through
	// other locals.
	localNodes map[string]map[string]bool
}

// references is the references pass over every module of the playbook.
func (c *compiler) references() hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[*module]bool{}
	var walk func(m *module)
	walk = func(m *module) {
		if seen[m] {
			return
		}
		seen[m] = true
		diags = append(diags, buildDeclGraph(m, c.funcs)...)
		for _, call := range m.calls {
			walk(call.child)
		}
	}
	walk(c.root)
	return diags
}

// declsOf lists a module's declarations as graph vertices, with their
// references; IDs follow declaration order.
func declsOf(m *module, rc *refChecker) ([]*decl, hcl.Diagnostics) {
	var out []*decl
	var diags hcl.Diagnostics
	add := func(d *decl) {
		d.id = int64(len(out))
		out = append(out, d)
	}
	for _, l := range m.locals {
		r, ok, d := rc.localRefs(l)
		diags = append(diags, d...)
		add(&decl{kind: kindLocal, addr: "local." + l.Name, rng: l.Range, refs: r, bad: !ok, local: l})
	}
	for _, n := range m.nodes {
		r, ok, d := rc.nodesRefs(n)
		diags = append(diags, d...)
		add(&decl{kind: kindNodes, addr: "nodes." + n.name, rng: n.rng, refs: r, bad: !ok, nodes: n})
	}
	for _, res := range m.resources {
		r, d := rc.resourceRefs(res)
		diags = append(diags, d...)
		add(&decl{kind: kindResource, addr: res.key(), rng: res.rng, refs: r, res: res})
	}
	for _, call := range m.calls {
		r, d := rc.callRefs(call)
		diags = append(diags, d...)
		add(&decl{kind: kindModule, addr: "module." + call.name, rng: call.rng, refs: r, call: call})
	}
	return out, diags
}

// buildDeclGraph builds m's declaration graph, orders it and reports its
// cycles.
func buildDeclGraph(m *module, funcs evalFuncs) hcl.Diagnostics {
	h := holes{attrs: map[string]map[string]bool{}, roots: map[string]bool{}}
	decls, diags := declsOf(m, &refChecker{m: m, funcs: funcs, holes: &h})
	g := simple.NewDirectedGraph()
	byAddr := map[string]*decl{}
	for _, d := range decls {
		g.AddNode(d)
		if _, dup := byAddr[d.addr]; !dup {
			byAddr[d.addr] = d
		}
	}
	for _, d := range decls {
		for _, dep := range d.refs.depAddrs() {
			// Self references are reported, not recorded, so from != to.
			if from, ok := byAddr[dep]; ok && from != d {
				g.SetEdge(g.NewEdge(from, d))
			}
		}
	}
	sorted, cycles := sortVertices(g)
	dg := &declGraph{holes: h, localNodes: map[string]map[string]bool{}}
	for _, n := range sorted {
		dg.order = append(dg.order, n.(*decl))
	}
	for _, scc := range cycles {
		sort.Slice(scc, func(i, j int) bool { return scc[i].ID() < scc[j].ID() })
		diags = append(diags, cycleDiag(g, scc, cycleWhat(scc)))
		for _, n := range scc {
			dg.order = append(dg.order, n.(*decl))
		}
	}
	dg.addLocalNodes()
	m.graph = dg
	return diags
}

// depAddrs are the declaration addresses r depends on.
func (r *refs) depAddrs() []string {
	var out []string
	for n := range r.locals {
		out = append(out, "local."+n)
	}
	for n := range r.nodes {
		out = append(out, "nodes."+n)
	}
	for k := range r.decls {
		out = append(out, k)
	}
	for n := range r.modules {
		out = append(out, "module."+n)
	}
	return out
}

// cycleWhat names the kind of declarations in a cycle.
func cycleWhat(scc []graph.Node) string {
	res, loc := true, true
	for _, n := range scc {
		res = res && n.(*decl).kind == kindResource
		loc = loc && n.(*decl).kind == kindLocal
	}
	switch {
	case res:
		return "resources"
	case loc:
		return "local values"
	}
	return "declarations"
}

// addLocalNodes records the node sets each local uses, transitively
// (dependencies come first in the order).
func (dg *declGraph) addLocalNodes() {
	for _, d := range dg.order {
		if d.kind != kindLocal {
			continue
		}
		set := map[string]bool{}
		for n := range d.refs.nodes {
			set[n] = true
		}
		for l := range d.refs.locals {
			for n := range dg.localNodes[l] {
				set[n] = true
			}
		}
		dg.localNodes[d.local.Name] = set
	}
}
