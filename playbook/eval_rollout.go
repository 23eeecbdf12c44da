package playbook

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/catalog"
)

// evalRollout evaluates a rollout block for the module instance addr.
func (s *scope) evalRollout(d *rolloutDecl, addr string, ctx *hcl.EvalContext) (*catalog.Rollout, hcl.Diagnostics) {
	ro := &catalog.Rollout{Addr: addr, BatchKey: catalog.ResultKey(addr, "batch"), Pos: d.rng.String(),
		Batches: []catalog.Size{{Count: 1}}}
	var diags hcl.Diagnostics
	nodes := d.attrs["nodes"]
	if nodes == nil {
		return nil, nil // reported by decode
	}
	if t, td := hcl.AbsTraversalForExpr(nodes.Expr); !td.HasErrors() && t.RootName() == "nodes" && len(t) == 2 {
		ro.NodeSet = s.nodeAddr(attrName(t))
	} else {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid rollout nodes", Detail: "nodes names the node set the rollout goes through, e.g. nodes = nodes.web.", Subject: nodes.Expr.Range().Ptr()})
	}
	me := &metaEval{ctx: ctx}
	if a, ok := d.attrs["batches"]; ok {
		ro.Batches = me.sizes(a)
	}
	if a, ok := d.attrs["pause"]; ok {
		ro.Pause = me.dur(a)
	}
	if a, ok := d.attrs["confirm"]; ok {
		ro.Confirm = me.boolean(a)
	}
	if a, ok := d.attrs["max_failed"]; ok {
		ro.MaxFailed = me.size(a, 0)
	}
	diags = append(diags, me.diags...)
	if diags.HasErrors() {
		return nil, diags
	}
	return ro, diags
}

// sizes evaluates a list of batch sizes: whole numbers of at least 1 and
// percentages such as "25%".
func (e *metaEval) sizes(a *hcl.Attribute) []catalog.Size {
	v, diags := a.Expr.Value(e.ctx)
	e.diags = append(e.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	if !v.IsWhollyKnown() || v.IsNull() || !(v.Type().IsTupleType() || v.Type().IsListType()) || v.LengthInt() == 0 {
		e.invalid(a, `batches is a non-empty list of batch sizes, numbers of nodes or percentages of the node set, e.g. [1, 2, "25%", "100%"]; the last one repeats.`)
		return nil
	}
	var out []catalog.Size
	for _, ev := range v.AsValueSlice() {
		sz, err := parseSize(ev, 1)
		if err != nil {
			e.invalid(a, fmt.Sprintf("batches: %v.", err))
			return nil
		}
		out = append(out, sz)
	}
	return out
}

// size evaluates one size: a whole number of at least minimum, or a
// percentage.
func (e *metaEval) size(a *hcl.Attribute, minimum int) catalog.Size {
	v, diags := a.Expr.Value(e.ctx)
	e.diags = append(e.diags, diags...)
	if diags.HasErrors() {
		return catalog.Size{}
	}
	sz, err := parseSize(v, minimum)
	if err != nil {
		e.invalid(a, fmt.Sprintf("%s: %v.", a.Name, err))
	}
	return sz
}

// parseSize reads 3, "3" or "25%".
func parseSize(v cty.Value, minimum int) (catalog.Size, error) {
	if !v.IsKnown() || v.IsNull() {
		return catalog.Size{}, fmt.Errorf("a size must be known before anything runs")
	}
	switch v.Type() {
	case cty.Number:
		n, acc := v.AsBigFloat().Int64()
		if acc != big.Exact || n < int64(minimum) || n > 1<<31 {
			return catalog.Size{}, fmt.Errorf("%s is not a whole number of at least %d", v.AsBigFloat().String(), minimum)
		}
		return catalog.Size{Count: int(n)}, nil
	case cty.String:
		txt := strings.TrimSpace(v.AsString())
		if p, ok := strings.CutSuffix(txt, "%"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || f <= 0 || f > 100 {
				return catalog.Size{}, fmt.Errorf("%q is not a percentage above 0 and at most 100", txt)
			}
			return catalog.Size{Percent: f}, nil
		}
		n, err := strconv.Atoi(txt)
		if err != nil {
			return catalog.Size{}, fmt.Errorf("%q is neither a number of nodes nor a percentage such as \"25%%\"", txt)
		}
		return parseSize(cty.NumberIntVal(int64(n)), minimum)
	}
	return catalog.Size{}, fmt.Errorf("a size is a number of nodes or a percentage such as \"25%%\", not %s", v.Type().FriendlyName())
}
