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
		addr := s.prefix + "module." + c.name + k.index
		ictx, deps, rollout := k.child(ctx), nodeDeps, s.rollout
		if c.rollout != nil {
			var ok bool
			if ictx, deps, ok = s.startRollout(c, addr, ictx, nodeDeps); ok {
				rollout = addr
			}
		}
		vars, diags := s.callInputs(c, ictx)
		s.ev.sink.add(c.rng, diags)
		child := &scope{
			prefix: addr + ".", mod: c.child, vars: vars, funcs: s.funcs,
			ev: s.ev, nodeDeps: deps, after: after, rollout: rollout,
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

// startRollout evaluates a module instance's rollout block, registers the
// rollout, and returns the context of the call's arguments (with
// rollout.batch, the current batch: unknown until the engine runs it) and
// the node sets the module's resources depend on (the batch's key too).
func (s *scope) startRollout(c *moduleCall, addr string, ctx *hcl.EvalContext, deps map[string]bool) (*hcl.EvalContext, map[string]bool, bool) {
	if s.rollout != "" {
		s.ev.sink.add(c.rng, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Nested rollout", Detail: fmt.Sprintf("%s is inside the rollout of %s; rollouts do not nest.", addr, s.rollout), Subject: c.rollout.rng.Ptr()}})
		return ctx, deps, false
	}
	ro, diags := s.evalRollout(c.rollout, addr, ctx)
	s.ev.sink.add(c.rollout.rng, diags)
	batch := cty.UnknownVal(cty.List(cty.String))
	child := ctx.NewChild()
	child.Variables = map[string]cty.Value{"rollout": cty.ObjectVal(map[string]cty.Value{"batch": batch})}
	if ro == nil {
		return child, deps, false // reported; rollout.batch stays unknown
	}
	s.ev.rollouts[addr], s.ev.rolloutRanges[addr] = ro, c.rollout.rng
	if v, ok := s.ev.nodeVals[ro.BatchKey]; ok {
		child.Variables["rollout"] = cty.ObjectVal(map[string]cty.Value{"batch": v})
	}
	all := map[string]bool{ro.BatchKey: true}
	for k := range deps {
		all[k] = true
	}
	return child, all, true
}
