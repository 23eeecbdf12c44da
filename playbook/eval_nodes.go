package playbook

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
)

// nodesEval evaluates the arguments of one nodes block.
type nodesEval struct {
	n     *nodesDecl
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

// value evaluates the argument name to type ty; ok is false when it is
// absent or wrong (reported).
func (e *nodesEval) value(name string, ty cty.Type) (cty.Value, bool) {
	a, ok := e.n.attrs[name]
	if !ok {
		return cty.NilVal, false
	}
	v, d := a.Expr.Value(e.ctx)
	e.diags = append(e.diags, d...)
	if d.HasErrors() {
		return cty.NilVal, false
	}
	if ty == cty.List(cty.String) && v.Type() == cty.String {
		v = cty.ListVal([]cty.Value{v})
	}
	cv, err := convert.Convert(v, ty)
	if err != nil || !cv.IsWhollyKnown() || cv.IsNull() {
		e.diags = append(e.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: fmt.Sprintf("%s must be %s known before discovery.", a.Name, ty.FriendlyName()), Subject: a.Expr.Range().Ptr()})
		return cty.NilVal, false
	}
	return cv, true
}

// facts evaluates fact = { NAME = "CONDITION" }.
func (e *nodesEval) facts() []fleet.FactFilter {
	v, ok := e.value("fact", cty.Map(cty.String))
	if !ok {
		return nil
	}
	keys := v.AsValueMap()
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []fleet.FactFilter
	for _, k := range names {
		ff, err := fleet.NewFactFilter(k, keys[k].AsString())
		if err != nil {
			e.diags = append(e.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid fact filter", Detail: err.Error(), Subject: e.n.attrs["fact"].Expr.Range().Ptr()})
			continue
		}
		out = append(out, ff)
	}
	return out
}

// list evaluates a list-of-strings argument.
func (e *nodesEval) list(name string) []string {
	v, ok := e.value(name, cty.List(cty.String))
	if !ok {
		return nil
	}
	var out []string
	for _, el := range v.AsValueSlice() {
		out = append(out, el.AsString())
	}
	return out
}

// count evaluates min or max.
func (e *nodesEval) count(name string) int {
	v, ok := e.value(name, cty.Number)
	if !ok {
		return 0
	}
	i, acc := v.AsBigFloat().Int64()
	if acc != 0 || i < 0 {
		e.diags = append(e.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + name, Detail: name + " must be a whole number, 0 or more.", Subject: e.n.attrs[name].Expr.Range().Ptr()})
		return 0
	}
	return int(i)
}

// evalNodeSet evaluates a nodes block into a filter.
func (s *scope) evalNodeSet(n *nodesDecl) (*catalog.NodeSet, hcl.Diagnostics) {
	e := &nodesEval{n: n, ctx: s.ctx()}
	ns := &catalog.NodeSet{Addr: s.nodeAddr(n.name), Pos: n.rng.String()}
	ns.Filter.Facts = e.facts()
	ns.Filter.Classes, ns.Filter.Agents, ns.Filter.Identities = e.list("class"), e.list("agent"), e.list("identity")
	if err := ns.Filter.Validate(); err != nil {
		e.diags = append(e.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid node set filter", Detail: err.Error(), Subject: n.rng.Ptr()})
	}
	ns.Min, ns.Max = e.count("min"), e.count("max")
	// Only an explicit min = 0 lets the set be empty: by default finding
	// no node fails the run rather than passing for "nothing to do".
	_, given := n.attrs["min"]
	ns.AllowEmpty = given && ns.Min == 0
	if ns.Max > 0 && ns.Min > ns.Max {
		e.diags = append(e.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid node set", Detail: fmt.Sprintf("min (%d) is larger than max (%d).", ns.Min, ns.Max), Subject: n.rng.Ptr()})
	}
	return ns, e.diags
}
