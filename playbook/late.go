package playbook

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
)

// resource turns an instance into its catalog entry; its catalog.Late part
// re-evaluates the playbook once node sets are resolved.
func (p *program) resource(in *instance) *catalog.Resource {
	r := &catalog.Resource{
		Addr: in.addr, Type: in.decl.typeName, Module: strings.TrimSuffix(in.scope.prefix, "."),
		Description: in.static.description, Pos: in.decl.rng.String(),
		BatchSize: in.static.batchSize, BatchSleep: in.static.batchSleep, Timeout: in.static.timeout,
		Retry: in.static.retry, AnyOne: in.static.anyOne, FailOK: in.static.failOK, NoOp: in.static.noop,
		NodeSets: sortedKeys(in.nodeSets), HasTargets: in.targets != cty.NilVal,
		When: in.static.when, MaxFailed: in.static.maxFailed, Rollout: in.rollout,
	}
	if in.args.IsKnown() {
		if m, ok := knownArgs(in.args); ok {
			r.Static = m
		}
	} else {
		r.Static = map[string]any{}
	}
	late := &lateEval{p: p, addr: in.addr, nodeSets: r.NodeSets, hasTargets: r.HasTargets}
	if e, ok := in.decl.meta["expect"]; ok {
		late.expect = e.Expr
	}
	r.Late = late
	return r
}

// lateEval is a resource instance's Late: it looks the instance up in the
// playbook evaluated with the resolved node sets (memoised by program).
type lateEval struct {
	p          *program
	addr       string
	nodeSets   []string
	hasTargets bool
	expect     hcl.Expression // nil when the resource has none
}

// lookup evaluates the playbook for res and returns the instance.
func (l *lateEval) lookup(res catalog.Resolved) (*instance, error) {
	ev := l.p.evaluate(res)
	if ev.sink.diags.HasErrors() {
		return nil, errors.New(diagsText(ev.sink.diags))
	}
	i, ok := ev.byAddr[l.addr]
	if !ok {
		return nil, fmt.Errorf("%s: no such resource instance after discovery", l.addr)
	}
	return i, nil
}

// Targets returns the identities the instance applies to.
func (l *lateEval) Targets(res catalog.Resolved) ([]string, error) {
	if !l.hasTargets {
		return nil, nil
	}
	i, err := l.lookup(res)
	if err != nil {
		return nil, err
	}
	if !i.targets.IsWhollyKnown() {
		return nil, fmt.Errorf("%s: targets are not known: resolve node sets %v first", l.addr, l.nodeSets)
	}
	var ids []string
	for _, v := range i.targets.AsValueSlice() {
		if !v.IsNull() {
			ids = append(ids, v.AsString())
		}
	}
	return ids, nil
}

// Args evaluates the type's arguments.
func (l *lateEval) Args(res catalog.Resolved) (map[string]any, error) {
	i, err := l.lookup(res)
	if err != nil {
		return nil, err
	}
	if !i.args.IsWhollyKnown() {
		return nil, fmt.Errorf("%s: arguments are not known: resolve node sets %v first", l.addr, l.nodeSets)
	}
	m, _ := knownArgs(i.args)
	return m, nil
}

// Expect judges one ok reply against the expect expression.
func (l *lateEval) Expect(reply *fleet.Reply) error {
	if l.expect == nil {
		return nil
	}
	i, err := l.lookup(nil)
	if err != nil {
		return err
	}
	data, err := goToCty(reply.Data)
	if err != nil {
		return fmt.Errorf("expect: reply data is not JSON: %w", err)
	}
	ctx := i.ctx.NewChild()
	ctx.Variables = map[string]cty.Value{"reply": cty.ObjectVal(map[string]cty.Value{
		"identity": cty.StringVal(reply.Identity), "status": cty.StringVal(string(reply.Status)),
		"message": cty.StringVal(reply.Message), "changed": cty.BoolVal(reply.Changed), "data": data,
	})}
	v, diags := l.expect.Value(ctx)
	if diags.HasErrors() {
		return fmt.Errorf("expect: %s", diagsText(diags))
	}
	if v.Type() != cty.Bool || !v.IsKnown() || v.IsNull() {
		return errors.New("expect: the expression must be true or false")
	}
	if v.False() {
		return fmt.Errorf("expect failed: %s", exprText(l.expect, l.p.files))
	}
	return nil
}

// HasExpect reports whether the resource has an expect expression.
func (l *lateEval) HasExpect() bool { return l.expect != nil }

// knownArgs converts an argument object to Go values; unknown attributes
// are left out.
func knownArgs(v cty.Value) (map[string]any, bool) {
	if v.IsNull() || !v.Type().IsObjectType() {
		return map[string]any{}, false
	}
	out := map[string]any{}
	all := true
	for k, av := range v.AsValueMap() {
		if !av.IsWhollyKnown() {
			all = false
			continue
		}
		g, err := ctyToGo(av)
		if err != nil {
			all = false
			continue
		}
		out[k] = g
	}
	return out, all
}

func diagsText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		s := d.Summary + ": " + d.Detail
		if d.Subject != nil {
			s = d.Subject.String() + ": " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// exprText is the source text of e, from the parser's files.
func exprText(e hcl.Expression, files map[string]*hcl.File) string {
	rng := e.Range()
	f, ok := files[rng.Filename]
	if !ok || rng.End.Byte > len(f.Bytes) {
		return rng.String()
	}
	return string(f.Bytes[rng.Start.Byte:rng.End.Byte])
}

var _ catalog.Late = (*lateEval)(nil)
