package playbook

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// evalCall instantiates a module call: one child scope per instance key.
func (s *scope) evalCall(dv *decl) {
	c, r := dv.call, dv.refs
	ctx := s.ctx()
	keys, diags := instanceKeys(c.forEach, c.count, ctx, s.ev.limits.perBlock)
	s.ev.sink.add(c.rng, diags)
	if diags.HasErrors() {
		return
	}
	ok, diags := s.ev.budget.reserve(len(keys), s.prefix+"module."+c.name, expansionRange(c.forEach, c.count, c.rng))
	s.ev.sink.add(c.rng, diags)
	if !ok {
		return
	}
	nodeDeps := s.nodeSetsOf(r, true)
	after := append([]string{}, s.after...)
	for _, k := range sortedKeys(r.decls) {
		after = append(after, s.prefix+k)
	}
	for _, m := range sortedKeys(r.modules) {
		after = append(after, s.prefix+"module."+m)
	}
	for _, k := range keys {
		vars, diags := s.callInputs(c, k.child(ctx))
		s.ev.sink.add(c.rng, diags)
		child := &scope{
			prefix: s.prefix + "module." + c.name + k.index + ".", mod: c.child, vars: vars, funcs: s.funcs,
			ev: s.ev, nodeDeps: nodeDeps, after: after,
		}
		s.ev.sink.add(hcl.Range{Filename: c.child.path}, checkValidations(c.child, knownOnly(vars), s.funcs))
		child.run()
		s.insts = append(s.insts, child.insts...)
	}
}

// callInputs evaluates the child module's variables for one instance of
// the call.
func (s *scope) callInputs(c *moduleCall, ctx *hcl.EvalContext) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vars := map[string]cty.Value{}
	for _, v := range c.child.vars {
		a, given := c.inputs[v.name]
		var val cty.Value
		var d hcl.Diagnostics
		src := rawValue{source: fmt.Sprintf("module %q", c.name)}
		switch {
		case given:
			val, d = a.Expr.Value(ctx)
			d = append(d, checkTemplates(templatesOf(a.Expr), ctx)...)
			src.rng = a.Range
		case v.def != nil:
			val, d = v.def.Expr.Value(nil)
		default:
			d = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Missing required argument", Detail: fmt.Sprintf("Module %q needs the input %q (its variable has no default).", c.name, v.name), Subject: c.rng.Ptr()}}
		}
		diags = append(diags, d...)
		if d.HasErrors() {
			val = cty.UnknownVal(v.typ)
		} else {
			// unknown values too: a node set given for a string
			// variable is an error now, not at apply time
			val, d = convertVar(v, val, src)
			diags = append(diags, d...)
		}
		vars[v.name] = val
	}
	return vars, diags
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
