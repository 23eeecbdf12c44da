package playbook

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/orch-fleet/orch/ddl"
)

// requests is the request checks pass: each instance's request, built from
// its arguments where they are known before discovery, is checked against
// the agent's schema: the action exists and takes these inputs. Agents
// without a known schema (a site's own providers) are left to the node to
// judge.
func (c *compiler) requests() hcl.Diagnostics {
	if c.opts.Schemas == nil {
		return nil
	}
	var diags hcl.Diagnostics
	for _, in := range c.ev.insts {
		if d := checkRequest(in, c.opts.Schemas); d != nil {
			diags = append(diags, d)
		}
	}
	return diags
}

// checkRequest checks the request of one instance.
func checkRequest(in *instance, schemas func(string) *ddl.Agent) *hcl.Diagnostic {
	if !in.args.IsWhollyKnown() {
		return nil
	}
	args, ok := knownArgs(in.args)
	if !ok {
		return nil
	}
	req, err := in.decl.t.Request(args)
	if err != nil {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid resource arguments", Detail: fmt.Sprintf("%s: %v.", in.addr, err), Subject: in.decl.rng.Ptr()}
	}
	agent := schemas(req.Agent)
	if agent == nil {
		return nil
	}
	act, ok := agent.Action(req.Action)
	if !ok {
		detail := fmt.Sprintf("%s: the %s agent has no action %q (it has: %s).", in.addr, req.Agent, req.Action, strings.Join(agent.ActionNames(), ", ")) + didYouMean(req.Action, agent.ActionNames())
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown action", Detail: detail, Subject: argRange(in.decl, "action")}
	}
	if _, err := act.Validate(req.Input); err != nil {
		subject := in.decl.rng.Ptr()
		var de *ddl.Error
		if errors.As(err, &de) && de.Input != "" {
			subject = argRange(in.decl, de.Input, "inputs") // a typed argument, or rpc's inputs
		}
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid input", Detail: fmt.Sprintf("%s: %s.%s refuses its input: %v.", in.addr, req.Agent, req.Action, err), Subject: subject}
	}
	return nil
}

// argRange is the range of the first of the named arguments the resource
// body has, else the resource's.
func argRange(d *resourceDecl, names ...string) *hcl.Range {
	if sb, ok := d.remain.(*hclsyntax.Body); ok {
		for _, n := range names {
			if a, ok := sb.Attributes[n]; ok {
				return a.Expr.Range().Ptr()
			}
		}
	}
	return d.rng.Ptr()
}
