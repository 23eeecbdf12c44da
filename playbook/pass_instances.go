package playbook

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/orch-fleet/orch/catalog"
	"gonum.org/v1/gonum/graph/simple"
)

// The expand and instances passes: declaration-level dependencies become
// dependencies between instances, which form the instance graph; its
// topological order (ties by address) is the catalog's order.

// expand is the expand pass: each instance's references and depends_on
// (on resources, on modules, inherited from its module call) become the
// set of instance addresses it depends on.
func (c *compiler) expand() hcl.Diagnostics {
	// Instances by scope and decl key, so that each reference costs the
	// instances it names rather than a scan of the whole playbook.
	type declRef struct {
		scope *scope
		key   string
	}
	byDecl := map[declRef][]*instance{}
	for _, in := range c.ev.insts {
		k := declRef{in.scope, in.decl.key()}
		byDecl[k] = append(byDecl[k], in)
	}
	c.deps = map[string]map[string]bool{}
	for _, in := range c.ev.insts {
		deps := map[string]bool{}
		for _, dk := range in.declDeps {
			for _, other := range byDecl[declRef{in.scope, dk}] {
				deps[other.addr] = true
			}
		}
		for _, pref := range in.afterPref {
			for _, other := range c.ev.insts {
				if other.addr != in.addr && underPrefix(other.addr, pref) {
					deps[other.addr] = true
				}
			}
		}
		c.deps[in.addr] = deps
	}
	return nil
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

// instVertex is a resource instance as a vertex of the instance graph.
type instVertex struct {
	id   int64
	inst *instance
}

func (v *instVertex) ID() int64        { return v.id }
func (v *instVertex) String() string   { return v.inst.addr }
func (v *instVertex) address() string  { return v.inst.addr }
func (v *instVertex) place() hcl.Range { return v.inst.decl.rng }

// instances is the instance graph pass: it orders the instances, reports
// the cycles among them, and produces the catalog.
func (c *compiler) instances() hcl.Diagnostics {
	g := simple.NewDirectedGraph()
	byAddr := map[string]*instVertex{}
	// IDs follow the order of addresses, so that ties sort by address.
	insts := append([]*instance{}, c.ev.insts...)
	sort.Slice(insts, func(i, j int) bool { return insts[i].addr < insts[j].addr })
	for i, in := range insts {
		v := &instVertex{id: int64(i), inst: in}
		byAddr[in.addr] = v
		g.AddNode(v)
	}
	for _, in := range insts {
		for dep := range c.deps[in.addr] {
			// Self dependencies are reported by the references pass.
			if dep != in.addr {
				g.SetEdge(g.NewEdge(byAddr[dep], byAddr[in.addr]))
			}
		}
	}
	sorted, cycles := sortVertices(g)
	var diags hcl.Diagnostics
	for _, scc := range cycles {
		sort.Slice(scc, func(i, j int) bool { return scc[i].ID() < scc[j].ID() })
		diags = append(diags, cycleDiag(g, scc, "resources"))
	}
	if diags.HasErrors() {
		return diags
	}
	c.cat = &catalog.Catalog{Lock: c.ev.lock, NodeSets: c.ev.nodeSets}
	for _, n := range sorted {
		in := n.(*instVertex).inst
		r := c.prog.resource(in)
		r.DependsOn = sortedKeys(c.deps[in.addr])
		c.cat.Resources = append(c.cat.Resources, r)
	}
	return c.rollouts()
}

// rollouts adds the rollouts to the catalog, with their members in
// catalog order. A rollout with no resource is an error.
func (c *compiler) rollouts() hcl.Diagnostics {
	if len(c.ev.rollouts) == 0 {
		return nil
	}
	c.cat.Rollouts = map[string]*catalog.Rollout{}
	for addr, ro := range c.ev.rollouts {
		cp := *ro
		cp.Members = nil
		c.cat.Rollouts[addr] = &cp
	}
	for _, r := range c.cat.Resources {
		if ro := c.cat.Rollouts[r.Rollout]; ro != nil {
			ro.Members = append(ro.Members, r.Addr)
		}
	}
	var diags hcl.Diagnostics
	for _, addr := range sortedKeys(keysOf(c.cat.Rollouts)) {
		if ro := c.cat.Rollouts[addr]; len(ro.Members) == 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty rollout", Detail: fmt.Sprintf("%s has a rollout block but no resources to roll.", addr), Subject: c.ev.rolloutRanges[addr].Ptr()})
		}
	}
	return diags
}

func keysOf[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
