package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleetops"
	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
	"github.com/orch-fleet/orch/rpc"
)

// playbookAgents are the external agents a playbook declares in
// agents.d beside it (docs/agents.md): their schemas check its requests,
// and each action is a resource type, AGENT_ACTION.
type playbookAgents struct {
	schemas *fleetops.Schemas
	types   resources.Registry
}

// loadPlaybookAgents reads agents.d beside the playbook at path (a file,
// or a directory of them) and builds the resource types.
func loadPlaybookAgents(path string) (*playbookAgents, hcl.Diagnostics) {
	dir := path
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		dir = filepath.Dir(path)
	}
	dir = filepath.Join(dir, fleetops.LocalAgentsDir)
	pa := &playbookAgents{schemas: fleetops.NewSchemas(builtin.Schema), types: resources.Builtin()}
	agents, err := fleetops.LoadSchemaDir(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid agent schema beside the playbook", Detail: err.Error()}}
	}
	var diags hcl.Diagnostics
	for _, a := range agents {
		if err := pa.add(a); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid agent schema beside the playbook",
				Detail: fmt.Sprintf("%s: %v.", filepath.Join(dir, a.Name), err)})
		}
	}
	return pa, diags
}

// add adds an agent's schema and its resource types.
func (pa *playbookAgents) add(a *ddl.Agent) error {
	if builtin.Schema(a.Name) != nil {
		return fmt.Errorf("%s is a built-in agent", a.Name)
	}
	meta := playbook.MetaArgs()
	types := resources.FromSchema(a)
	for _, t := range types {
		if _, taken := pa.types[t.Name]; taken {
			return fmt.Errorf("resource type %s exists already", t.Name)
		}
		for _, arg := range t.Args {
			if slices.Contains(meta, arg.Name) {
				return fmt.Errorf("input %s of %s: every resource has an argument of that name; rename the input", arg.Name, t.Name)
			}
		}
	}
	for _, t := range types {
		pa.types[t.Name] = t
	}
	pa.schemas.AddLocal(a)
	return nil
}

// withFleet adds the schemas the fleet's registry advertises for external
// agents and, when there are any, compiles the playbook again so that its
// requests to those agents are checked too; only the new compile's errors
// are printed. It returns res itself when nothing changed, and sets the
// client's schemas either way.
func (p *playbookFlags) withFleet(ctx context.Context, e *env, path string, res *playbook.Result, cl *rpc.Client) *playbook.Result {
	pa := p.agents
	defer func() { cl.SetSchemas(pa.schemas.Lookup) }()
	nodes, err := cl.Discover(ctx, fleet.Filter{}, rpc.DiscoverOptions{Method: rpc.DiscoverRegistry})
	if err != nil {
		return res // no registry: the nodes judge external agents' requests
	}
	pa.schemas.AddFleet(nodes)
	if len(pa.schemas.Fleet()) == 0 {
		return res
	}
	return p.compileWith(e, path, pa, true)
}
