package playbook

import (
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/resources"
)

// instance is one evaluated resource instance.
type instance struct {
	addr      string
	decl      *resourceDecl
	scope     *scope
	ctx       *hcl.EvalContext
	args      cty.Value // object of the type's arguments (may hold unknowns)
	targets   cty.Value // list of identities, or NilVal when not given
	nodeSets  map[string]bool
	static    staticMeta
	declDeps  []string // decl keys referenced in the same scope
	afterPref []string // instance-address prefixes depended on
	rollout   string   // the rollout the instance belongs to, "" = none
}

// staticMeta are the meta-arguments that must be known at compile time.
type staticMeta struct {
	description string
	batchSize   int
	batchSleep  time.Duration
	timeout     time.Duration
	anyOne      bool
	failOK      bool
	retry       catalog.Retry
	noop        bool
	when        string
	maxFailed   catalog.Size
}

// typeSpec is the hcldec spec of a resource type's arguments. Required
// arguments are checked by the decode pass, not here.
func typeSpec(t *resources.Type) hcldec.ObjectSpec {
	spec := hcldec.ObjectSpec{}
	for _, a := range t.Args {
		ty := a.Type
		if ty == cty.NilType {
			ty = cty.DynamicPseudoType
		}
		spec[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: ty}
		if a.Default != cty.NilVal {
			spec[a.Name] = &hcldec.DefaultSpec{Primary: spec[a.Name], Default: &hcldec.LiteralSpec{Value: a.Default}}
		}
	}
	return spec
}

// instKey is one instance of a for_each / count block.
type instKey struct {
	index string    // "" or ["key"] or [0]
	each  cty.Value // each object, or NilVal
	count cty.Value // count object, or NilVal
}

func (k instKey) child(ctx *hcl.EvalContext) *hcl.EvalContext {
	c := ctx.NewChild()
	c.Variables = map[string]cty.Value{}
	if k.each != cty.NilVal {
		c.Variables["each"] = k.each
	}
	if k.count != cty.NilVal {
		c.Variables["count"] = k.count
	}
	return c
}

// instanceKeys evaluates for_each / count of a block: one key without
// either, at most limit keys (more is an error, reported before the keys
// are made).
func instanceKeys(forEach, count *hcl.Attribute, ctx *hcl.EvalContext, limit int) ([]instKey, hcl.Diagnostics) {
	switch {
	case forEach != nil:
		return forEachKeys(forEach, ctx, limit)
	case count != nil:
		return countKeys(count, ctx, limit)
	}
	return []instKey{{}}, nil
}

func forEachKeys(a *hcl.Attribute, ctx *hcl.EvalContext, limit int) ([]instKey, hcl.Diagnostics) {
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := func(detail string) ([]instKey, hcl.Diagnostics) {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each argument", Detail: detail, Subject: a.Expr.Range().Ptr()})
	}
	if !v.IsWhollyKnown() {
		return bad("for_each must be known before anything runs: it cannot depend on node sets.")
	}
	if v.IsNull() || !(v.Type().IsMapType() || v.Type().IsObjectType() || v.Type().IsSetType()) {
		return bad("for_each takes a map, an object or a set of strings (toset([...]) for a list).")
	}
	if n := v.LengthInt(); n > limit {
		return nil, append(diags, tooManyKeys(a, big.NewFloat(float64(n)), limit))
	}
	var keys []instKey
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		if v.Type().IsSetType() {
			if k.Type() != cty.String {
				return bad("A set given to for_each must hold strings.")
			}
			val = k
		}
		keys = append(keys, instKey{index: fmt.Sprintf("[%q]", k.AsString()), each: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})})
	}
	return keys, diags
}

func countKeys(a *hcl.Attribute, ctx *hcl.EvalContext, limit int) ([]instKey, hcl.Diagnostics) {
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := func(detail string) ([]instKey, hcl.Diagnostics) {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid count argument", Detail: detail, Subject: a.Expr.Range().Ptr()})
	}
	cv, err := convert.Convert(v, cty.Number)
	if err != nil || !cv.IsKnown() || cv.IsNull() {
		return bad("count must be a whole number known before anything runs.")
	}
	if f := cv.AsBigFloat(); f.Cmp(big.NewFloat(float64(limit))) > 0 {
		return nil, append(diags, tooManyKeys(a, f, limit))
	}
	n, acc := cv.AsBigFloat().Int64()
	if acc != big.Exact || n < 0 {
		return bad("count must be a whole number, 0 or more.")
	}
	keys := make([]instKey, n)
	for i := range keys {
		keys[i] = instKey{index: fmt.Sprintf("[%d]", i), count: cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})}
	}
	return keys, diags
}

// iterationMisuse reports each or count used where the block has no
// for_each or count.
func iterationMisuse(d *resourceDecl, r *refs) hcl.Diagnostics {
	if _, ok := d.meta["for_each"]; !ok && r.each {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to \"each\" in a resource without for_each", Detail: "each.key and each.value exist only in resources with for_each.", Subject: d.rng.Ptr()}}
	}
	if _, ok := d.meta["count"]; !ok && r.count {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to \"count\" in a resource without count", Detail: "count.index exists only in resources with count.", Subject: d.rng.Ptr()}}
	}
	return nil
}

// evalDecl expands one resource decl into its instances and evaluates
// them.
func (s *scope) evalDecl(dv *decl) {
	d, r := dv.res, dv.refs
	ctx := s.ctxFor(r)
	keys, diags := instanceKeys(d.meta["for_each"], d.meta["count"], ctx, s.ev.limits.perBlock)
	diags = append(diags, iterationMisuse(d, r)...)
	s.ev.sink.add(d.rng, diags)
	if diags.HasErrors() {
		return
	}
	ok, diags := s.ev.budget.reserve(len(keys), s.prefix+d.key(), expansionRange(d.meta["for_each"], d.meta["count"], d.rng))
	s.ev.sink.add(d.rng, diags)
	if !ok {
		return
	}
	proto := instance{decl: d, scope: s, nodeSets: s.nodeSetsOf(r, len(r.vars) > 0), declDeps: sortedKeys(r.decls), rollout: s.rollout}
	for m := range r.modules {
		proto.afterPref = append(proto.afterPref, s.prefix+"module."+m)
	}
	proto.afterPref = append(proto.afterPref, s.after...)
	spec := d.spec
	elems := map[string]cty.Value{}
	var list []cty.Value
	for _, k := range keys {
		inst := proto
		inst.addr, inst.ctx = s.prefix+d.key()+k.index, k.child(ctx)
		s.ev.sink.add(d.rng, inst.eval(spec))
		s.insts = append(s.insts, &inst)
		s.byDecl[d.key()] = append(s.byDecl[d.key()], &inst)
		v := s.withResults(inst.args, inst.addr)
		switch {
		case k.each != cty.NilVal:
			elems[k.each.GetAttr("key").AsString()] = v
		case k.count != cty.NilVal:
			list = append(list, v)
		default:
			s.resVals[d.key()] = v
		}
	}
	if _, ok := d.meta["for_each"]; ok {
		s.resVals[d.key()] = cty.ObjectVal(elems)
	}
	if _, ok := d.meta["count"]; ok {
		s.resVals[d.key()] = cty.TupleVal(list)
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string // nil when empty: null in the catalog's JSON, as before
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// eval evaluates the instance's arguments, targets and meta-arguments.
func (in *instance) eval(spec hcldec.ObjectSpec) hcl.Diagnostics {
	args, diags := hcldec.Decode(in.decl.remain, spec, in.ctx)
	if diags.HasErrors() {
		args = cty.DynamicVal
	}
	diags = append(diags, checkTemplates(in.decl.templates, in.ctx)...)
	in.args, in.targets = args, cty.NilVal
	if t, ok := in.decl.meta["targets"]; ok {
		var d hcl.Diagnostics
		in.targets, d = evalTargets(t, in.ctx)
		diags = append(diags, d...)
	}
	me := &metaEval{ctx: in.ctx}
	in.static = me.eval(in.decl)
	return append(diags, me.diags...)
}

// evalTargets evaluates a targets expression to a list of identities.
func evalTargets(a *hcl.Attribute, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return cty.UnknownVal(cty.List(cty.String)), diags
	}
	if v.Type() == cty.String {
		v = cty.ListVal([]cty.Value{v})
	}
	lv, err := convert.Convert(v, cty.List(cty.String))
	if err != nil {
		return cty.UnknownVal(cty.List(cty.String)), append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid targets", Detail: "targets must be a list of node identities, usually a node set such as nodes.web: " + err.Error() + ".", Subject: a.Expr.Range().Ptr()})
	}
	return lv, diags
}

// metaEval evaluates the meta-arguments that must be known at compile time.
type metaEval struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func (e *metaEval) invalid(a *hcl.Attribute, detail string) {
	e.diags = append(e.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: detail, Subject: a.Expr.Range().Ptr()})
}

// value evaluates a and converts it to ty; ok is false when it is wrong
// (HCL's error reported) or not known (reported by the caller).
func (e *metaEval) value(a *hcl.Attribute, ty cty.Type) (cty.Value, bool, bool) {
	v, diags := a.Expr.Value(e.ctx)
	e.diags = append(e.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false, true
	}
	cv, err := convert.Convert(v, ty)
	if err != nil || !cv.IsKnown() || cv.IsNull() {
		return cty.NilVal, false, false
	}
	return cv, true, false
}

func (e *metaEval) str(a *hcl.Attribute) (string, bool) {
	v, ok, reported := e.value(a, cty.String)
	if !ok && !reported {
		e.invalid(a, a.Name+" must be a string known before anything runs.")
	}
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (e *metaEval) dur(a *hcl.Attribute) time.Duration {
	txt, ok := e.str(a)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(txt)
	if err != nil || d < 0 {
		e.invalid(a, fmt.Sprintf("%q is not a duration such as \"30s\" or \"5m\".", txt))
		return 0
	}
	return d
}

func (e *metaEval) num(a *hcl.Attribute, minimum int64) int {
	v, ok, reported := e.value(a, cty.Number)
	if reported {
		return 0
	}
	if ok {
		if n, acc := v.AsBigFloat().Int64(); acc == big.Exact && n >= minimum {
			return int(n)
		}
	}
	e.invalid(a, fmt.Sprintf("%s must be a whole number of at least %d, known before anything runs.", a.Name, minimum))
	return 0
}

func (e *metaEval) boolean(a *hcl.Attribute) bool {
	v, ok, reported := e.value(a, cty.Bool)
	if !ok && !reported {
		e.invalid(a, a.Name+" must be true or false.")
	}
	return ok && v.True()
}

// staticMetaArgs are the meta-arguments metaEval evaluates, in the order
// their diagnostics come.
var staticMetaArgs = []string{"description", "batch_size", "batch_sleep", "timeout", "any_one", "fail_ok", "noop", "when", "max_failed"}

// eval evaluates the meta-arguments of d.
func (e *metaEval) eval(d *resourceDecl) staticMeta {
	m := staticMeta{anyOne: d.t.AnyOne}
	for _, name := range staticMetaArgs {
		a, ok := d.meta[name]
		if !ok {
			continue
		}
		switch name {
		case "description":
			m.description, _ = e.str(a)
		case "batch_size":
			m.batchSize = e.num(a, 1)
		case "batch_sleep":
			m.batchSleep = e.dur(a)
		case "timeout":
			m.timeout = e.dur(a)
		case "any_one":
			m.anyOne = e.boolean(a)
		case "fail_ok":
			m.failOK = e.boolean(a)
		case "noop":
			m.noop = e.boolean(a)
		case "when":
			m.when = e.when(a)
		case "max_failed":
			m.maxFailed = e.size(a, 0)
		}
	}
	if d.retry != nil {
		m.retry = e.retry(d.retry)
	}
	return m
}

// when evaluates the when meta-argument: "success" (the default),
// "failure" or "always".
func (e *metaEval) when(a *hcl.Attribute) string {
	txt, ok := e.str(a)
	switch {
	case !ok:
		return ""
	case txt == "success":
		return catalog.WhenSuccess
	case txt == catalog.WhenFailure || txt == catalog.WhenAlways:
		return txt
	}
	e.invalid(a, fmt.Sprintf("when is \"success\" (the default: after everything it follows succeeded), \"failure\" (only when something it follows failed) or \"always\" (whatever happened, also after an interrupt), not %q.", txt))
	return ""
}

// retry evaluates a retry block.
func (e *metaEval) retry(b *hcl.Block) catalog.Retry {
	c, diags := bodyContent(b.Body, retrySchema)
	e.diags = append(e.diags, diags...)
	var r catalog.Retry
	if a, ok := c.Attributes["attempts"]; ok {
		r.Attempts = e.num(a, 1)
	}
	if a, ok := c.Attributes["interval"]; ok {
		r.Interval = e.dur(a)
	}
	if a, ok := c.Attributes["timeout"]; ok {
		r.Timeout = e.dur(a)
	}
	if len(c.Attributes) == 0 {
		e.diags = append(e.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty retry block", Detail: "retry needs attempts, timeout or both (and optionally interval), e.g. retry { timeout = \"100s\" interval = \"5s\" }.", Subject: b.DefRange.Ptr()})
	}
	if r.Interval == 0 {
		r.Interval = 5 * time.Second
	}
	return r
}
