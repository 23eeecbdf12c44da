package playbook

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/internal/nesting"
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
	// MaxNesting bounds how deeply expressions nest in the playbook, its
	// modules, -var-file files and -var values (brackets, strings,
	// interpolations, operators), checked before parsing; 0 means
	// nesting.DefaultMax (1,000).
	MaxNesting int
	// MaxInstances bounds the instances of one resource or module call
	// (its count or the length of its for_each); 0 means
	// DefaultMaxInstances.
	MaxInstances int
	// MaxCatalogInstances bounds the resource and module instances the
	// whole playbook expands to; 0 means DefaultMaxCatalogInstances.
	MaxCatalogInstances int
}

// rawValue is a variable value from outside, before conversion.
type rawValue struct {
	expr   hcl.Expression // from a var file
	text   string         // from -var or the environment
	source string         // for messages
	rng    hcl.Range
}

// variables is the variables pass: the root module's variable values.
func (c *compiler) variables() hcl.Diagnostics {
	vars, diags := rootVarValues(c.parser, c.root, c.opts)
	c.vars = vars
	return diags
}

// rootVarValues resolves the root module's variables.
func rootVarValues(p *hclparse.Parser, m *module, o LoadOptions) (map[string]cty.Value, hcl.Diagnostics) {
	raw, diags := rawVarValues(p, m, o)
	values := map[string]cty.Value{}
	for _, v := range m.vars {
		val, d := varValue(v, raw, o.MaxNesting)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		values[v.name] = val
	}
	return values, diags
}

// varValue is the value of one root variable: given from outside, else its
// default, converted to its type; limit is LoadOptions.MaxNesting.
func varValue(v *varDecl, raw map[string]rawValue, limit int) (cty.Value, hcl.Diagnostics) {
	r, given := raw[v.name]
	var val cty.Value
	var diags hcl.Diagnostics
	switch {
	case given && r.expr != nil:
		val, diags = r.expr.Value(nil)
	case given:
		val, diags = parseVarText(v, r.text, limit)
	case v.def != nil:
		val, diags = v.def.Expr.Value(nil)
		r = rawValue{source: "the default", rng: v.def.Range}
	default:
		return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No value for required variable",
			Detail: fmt.Sprintf("The variable %q has no default: give it with -var %s=VALUE, -var-file, or ORCH_VAR_%s.", v.name, v.name, v.name), Subject: v.rng.Ptr()}}
	}
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	cv, d := convertVar(v, val, r)
	return cv, append(diags, d...)
}

// rawVarValues gathers the values given from outside, later sources
// overriding earlier ones: environment, -var-file, -var.
func rawVarValues(p *hclparse.Parser, m *module, o LoadOptions) (map[string]rawValue, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	raw := map[string]rawValue{}
	declared := map[string]bool{}
	var names []string
	for _, v := range m.vars {
		declared[v.name] = true
		names = append(names, v.name)
		if o.Env == nil {
			continue
		}
		if s := o.Env("ORCH_VAR_" + v.name); s != "" {
			raw[v.name] = rawValue{text: s, source: "environment variable ORCH_VAR_" + v.name}
		}
	}
	for _, path := range o.VarFiles {
		diags = append(diags, varFile(p, path, o.MaxNesting, declared, names, raw)...)
	}
	for _, kv := range o.Vars {
		name, val, ok := strings.Cut(kv, "=")
		switch {
		case !ok || name == "":
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -var option",
				Detail: fmt.Sprintf("-var %q: want NAME=VALUE, e.g. -var cluster=bravo.", kv)})
		case !declared[name]:
			diags = append(diags, undeclaredVar(name, names, nil))
		default:
			raw[name] = rawValue{text: val, source: "-var " + name}
		}
	}
	return raw, diags
}

// varFile reads one -var-file into raw, through the compiler's parser so
// that its diagnostics have snippets.
func varFile(p *hclparse.Parser, path string, limit int, declared map[string]bool, names []string, raw map[string]rawValue) hcl.Diagnostics {
	f, diags := parseChecked(p, path, limit)
	if f == nil {
		if _, err := os.Stat(path); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read variables file", Detail: err.Error()})
		}
		return diags
	}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	for _, a := range sortedAttrs(attrs) {
		if !declared[a.Name] {
			diags = append(diags, undeclaredVar(a.Name, names, a.NameRange.Ptr()))
			continue
		}
		raw[a.Name] = rawValue{expr: a.Expr, source: "file " + path, rng: a.Range}
	}
	return diags
}

// parseVarText reads a -var or environment value: literally for string
// variables, as an HCL expression for others (lists, maps, numbers) unless
// it nests deeper than limit.
func parseVarText(v *varDecl, s string, limit int) (cty.Value, hcl.Diagnostics) {
	if v.typ == cty.String {
		return cty.StringVal(s), nil
	}
	name := "<value for var." + v.name + ">"
	if diags := nesting.Check(name, []byte(s), limit); diags.HasErrors() {
		return cty.NilVal, diags
	}
	expr, d := hclsyntax.ParseExpression([]byte(s), name, hcl.InitialPos)
	if !d.HasErrors() {
		if val, d := expr.Value(nil); !d.HasErrors() {
			return val, nil
		}
	}
	return cty.StringVal(s), nil
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
	if s := didYouMean(name, names); s != "" {
		detail += s
	} else if len(names) > 0 {
		sort.Strings(names)
		detail += " Its variables are: " + strings.Join(names, ", ") + "."
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable", Detail: detail, Subject: rng}
}
