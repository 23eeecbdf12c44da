package catalog

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/orch-fleet/orch/ddl"
)

// LoadOptions are the values a playbook's root variables take from outside.
// Precedence, lowest first: the variable's default, ORCH_VAR_NAME in the
// environment, -var-file files in order, -var flags in order.
type LoadOptions struct {
	// Vars are -var values as "NAME=VALUE", in command-line order.
	Vars []string
	// VarFiles are -var-file paths (HCL attribute files), in order.
	VarFiles []string
	// Env looks up environment variables; nil means none.
	Env func(string) string
	// Schemas returns the schema of an agent when it is known (the
	// providers compiled into orch), so that each resource's request is
	// checked before anything runs: an unknown action or an input the
	// schema refuses is a diagnostic at the resource. Nil skips the check.
	Schemas func(agent string) *ddl.Agent
}

// rawValue is a variable value from outside, before conversion.
type rawValue struct {
	expr   hcl.Expression // from a var file
	text   string         // from -var or the environment
	source string         // for messages
	rng    hcl.Range
}

// rootVarValues resolves the root module's variables.
func rootVarValues(p *parser, m *module, o LoadOptions) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	raw := map[string]rawValue{}
	declared := map[string]*varDecl{}
	var names []string
	for _, v := range m.vars {
		declared[v.name] = v
		names = append(names, v.name)
	}
	if o.Env != nil {
		for _, v := range m.vars {
			if s := o.Env("ORCH_VAR_" + v.name); s != "" {
				raw[v.name] = rawValue{text: s, source: "environment variable ORCH_VAR_" + v.name}
			}
		}
	}
	for _, path := range o.VarFiles {
		var f *hcl.File
		var d hcl.Diagnostics
		if strings.HasSuffix(path, ".json") {
			f, d = p.p.ParseJSONFile(path)
		} else {
			f, d = p.p.ParseHCLFile(path)
		}
		diags = append(diags, d...)
		if f == nil {
			if _, err := os.Stat(path); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read variables file", Detail: err.Error()})
			}
			continue
		}
		attrs, d := f.Body.JustAttributes()
		diags = append(diags, d...)
		for _, a := range sortedAttrs(attrs) {
			if _, ok := declared[a.Name]; !ok {
				diags = append(diags, undeclaredVar(a.Name, names, a.NameRange.Ptr()))
				continue
			}
			raw[a.Name] = rawValue{expr: a.Expr, source: "file " + path, rng: a.Range}
		}
	}
	for _, kv := range o.Vars {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -var option",
				Detail: fmt.Sprintf("-var %q: want NAME=VALUE, e.g. -var cluster=bravo.", kv)})
			continue
		}
		if _, ok := declared[name]; !ok {
			diags = append(diags, undeclaredVar(name, names, nil))
			continue
		}
		raw[name] = rawValue{text: val, source: "-var " + name}
	}
	values := map[string]cty.Value{}
	for _, v := range m.vars {
		r, given := raw[v.name]
		var val cty.Value
		switch {
		case given && r.expr != nil:
			var d hcl.Diagnostics
			val, d = r.expr.Value(nil)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
		case given:
			val = parseVarText(v, r.text)
		case v.def != nil:
			var d hcl.Diagnostics
			val, d = v.def.Expr.Value(nil)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			r = rawValue{source: "the default", rng: v.def.Range}
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
				Detail: fmt.Sprintf("The variable %q has no default: give it with -var %s=VALUE, -var-file, or ORCH_VAR_%s.", v.name, v.name, v.name), Subject: v.rng.Ptr()})
			continue
		}
		cv, d := convertVar(v, val, r)
		diags = append(diags, d...)
		if !d.HasErrors() {
			values[v.name] = cv
		}
	}
	return values, diags
}

// parseVarText reads a -var or environment value: literally for string
// variables, as an HCL expression for others (lists, maps, numbers).
func parseVarText(v *varDecl, s string) cty.Value {
	if v.typ == cty.String {
		return cty.StringVal(s)
	}
	expr, d := hclsyntax.ParseExpression([]byte(s), "<value for var."+v.name+">", hcl.InitialPos)
	if !d.HasErrors() {
		if val, d := expr.Value(nil); !d.HasErrors() {
			return val
		}
	}
	return cty.StringVal(s)
}

// convertVar applies optional() defaults and converts to the declared type.
func convertVar(v *varDecl, val cty.Value, r rawValue) (cty.Value, hcl.Diagnostics) {
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	cv, err := convert.Convert(val, v.typ)
	if err != nil {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
			Detail: fmt.Sprintf("The value of %q from %s is not valid: %s.", v.name, r.source, err)}
		if r.rng.Filename != "" {
			d.Subject = r.rng.Ptr()
		} else {
			d.Subject = v.rng.Ptr()
		}
		return cty.DynamicVal, hcl.Diagnostics{d}
	}
	return cv, nil
}

func undeclaredVar(name string, names []string, rng *hcl.Range) *hcl.Diagnostic {
	detail := fmt.Sprintf("The playbook declares no variable %q.", name)
	if s := suggest(name, names); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	} else if len(names) > 0 {
		sort.Strings(names)
		detail += " Its variables are: " + strings.Join(names, ", ") + "."
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable", Detail: detail, Subject: rng}
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
			res, d := vr.condition.Value(ctx)
			if d.HasErrors() {
				diags = append(diags, d...)
				continue
			}
			if !res.IsKnown() {
				continue
			}
			if res.Type() != cty.Bool || res.IsNull() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition", Detail: "The condition must be true or false.", Subject: vr.condition.Range().Ptr()})
				continue
			}
			if res.False() {
				msg := "the value is not valid"
				if mv, d := vr.message.Value(ctx); !d.HasErrors() && mv.Type() == cty.String && mv.IsKnown() && !mv.IsNull() {
					msg = mv.AsString()
				}
				shown := "(sensitive)"
				if !v.sensitive {
					shown = renderValue(val)
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
					Detail: fmt.Sprintf("var.%s = %s: %s", v.name, shown, msg), Subject: vr.condition.Range().Ptr(),
					Expression: vr.condition, EvalContext: ctx})
			}
		}
	}
	return diags
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
