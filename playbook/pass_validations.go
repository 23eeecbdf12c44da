package playbook

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// validations is the validations pass: the root variables' validation
// blocks (a module's are checked for each of its instances, in evaluate).
func (c *compiler) validations() hcl.Diagnostics {
	return checkValidations(c.root, c.vars, c.funcs)
}

// checkValidations evaluates each variable's validation blocks.
func checkValidations(m *module, values map[string]cty.Value, funcs evalFuncs) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, v := range m.vars {
		val, ok := values[v.name]
		if !ok {
			continue
		}
		ctx := &hcl.EvalContext{Functions: funcs, Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.name: val})}}
		for _, vr := range v.validations {
			diags = append(diags, vr.check(v, val, ctx)...)
		}
	}
	return diags
}

// check evaluates one validation block of v, whose value is val.
func (vr *validation) check(v *varDecl, val cty.Value, ctx *hcl.EvalContext) hcl.Diagnostics {
	res, diags := vr.condition.Value(ctx)
	if diags.HasErrors() || !res.IsKnown() {
		return diags
	}
	if res.Type() != cty.Bool || res.IsNull() {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid validation condition", Detail: "The condition must be true or false.", Subject: vr.condition.Range().Ptr()}}
	}
	if res.True() {
		return nil
	}
	msg := "the value is not valid"
	if mv, d := vr.message.Value(ctx); !d.HasErrors() && mv.Type() == cty.String && mv.IsKnown() && !mv.IsNull() {
		msg = mv.AsString()
	}
	shown := "(sensitive)"
	if !v.sensitive {
		shown = renderValue(val)
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid value for variable",
		Detail: fmt.Sprintf("var.%s = %s: %s", v.name, shown, msg), Subject: vr.condition.Range().Ptr(),
		Expression: vr.condition, EvalContext: ctx}}
}

// renderValue renders a value in HCL-ish syntax for messages.
func renderValue(v cty.Value) string {
	if !v.IsKnown() {
		return "(known at apply)"
	}
	if v.IsNull() {
		return "null"
	}
	switch {
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True())
	}
	g, err := ctyToGo(v)
	if err != nil {
		return v.GoString()
	}
	return fmt.Sprint(g)
}
