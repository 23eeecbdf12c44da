package playbook

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// HCL's string templates skip the type check of an interpolated value
// while it is unknown: "deployed to ${nodes.web}" evaluates to an unknown
// string at compile time, when node sets are unknown lists, and fails only
// at apply time, after earlier resources changed the fleet. The templates
// of resources, locals and module inputs are therefore checked here: an
// interpolation whose unknown value has a type that can never be a string
// is the error HCL reports once the value is known.

// templates lists the string templates in the syntax tree of n that
// interpolate something, outside can() and try() (where an error is a
// value, not a problem). Nil for JSON syntax, whose templates HCL
// parses only when evaluating.
func templates(n hclsyntax.Node) []*hclsyntax.TemplateExpr {
	w := &templateWalker{}
	_ = hclsyntax.Walk(n, w)
	return w.found
}

// templatesOf is templates over an expression of either syntax.
func templatesOf(e hcl.Expression) []*hclsyntax.TemplateExpr {
	if n, ok := e.(hclsyntax.Expression); ok {
		return templates(n)
	}
	return nil
}

// bodyTemplates is templates over a block body of either syntax; files
// (the parser's) hold its source, so that a body without "${" or "%{" is
// not walked at all.
func bodyTemplates(b hcl.Body, files map[string]*hcl.File) []*hclsyntax.TemplateExpr {
	n, ok := b.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	if f, ok := files[n.SrcRange.Filename]; ok && n.SrcRange.End.Byte <= len(f.Bytes) {
		src := f.Bytes[n.SrcRange.Start.Byte:n.SrcRange.End.Byte]
		if !bytes.Contains(src, []byte("${")) && !bytes.Contains(src, []byte("%{")) {
			return nil
		}
	}
	return templates(n)
}

type templateWalker struct {
	guarded int // inside can() or try()
	found   []*hclsyntax.TemplateExpr
}

func guards(n hclsyntax.Node) bool {
	fc, ok := n.(*hclsyntax.FunctionCallExpr)
	return ok && (fc.Name == "can" || fc.Name == "try")
}

// Enter implements hclsyntax.Walker.
func (w *templateWalker) Enter(n hclsyntax.Node) hcl.Diagnostics {
	if guards(n) {
		w.guarded++
	}
	if t, ok := n.(*hclsyntax.TemplateExpr); ok && w.guarded == 0 && interpolates(t) {
		w.found = append(w.found, t)
	}
	return nil
}

// Exit implements hclsyntax.Walker.
func (w *templateWalker) Exit(n hclsyntax.Node) hcl.Diagnostics {
	if guards(n) {
		w.guarded--
	}
	return nil
}

func interpolates(t *hclsyntax.TemplateExpr) bool {
	for _, p := range t.Parts {
		if _, lit := p.(*hclsyntax.LiteralValueExpr); !lit {
			return true
		}
	}
	return false
}

// checkTemplates reports the interpolations in ts whose value is unknown
// in ctx and of a type that cannot become a string, as HCL reports a known
// one. Parts that do not evaluate in ctx (they use a for expression's or a
// dynamic block's iterator) are left to evaluation.
func checkTemplates(ts []*hclsyntax.TemplateExpr, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range ts {
		for _, p := range t.Parts {
			if _, lit := p.(*hclsyntax.LiteralValueExpr); lit {
				continue
			}
			v, d := p.Value(ctx)
			if d.HasErrors() || v.IsKnown() {
				continue
			}
			if _, err := convert.Convert(v, cty.String); err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity:    hcl.DiagError,
					Summary:     "Invalid template interpolation value",
					Detail:      fmt.Sprintf("Cannot include the given value in a string template: %s.", err),
					Subject:     p.Range().Ptr(),
					Context:     t.SrcRange.Ptr(),
					Expression:  p,
					EvalContext: ctx,
				})
			}
		}
	}
	return diags
}
