package resources

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/ddl"
)

// FromSchema returns a resource type for each action of an agent's schema
// (an external agent's, docs/agents.md), so that a playbook calls it as it
// calls a built-in type: AGENT_ACTION (motd_set), whose arguments are the
// action's inputs with their required flags and defaults left to the
// schema. A reply with status ok is success.
func FromSchema(a *ddl.Agent) []*Type {
	out := make([]*Type, 0, len(a.Actions))
	for _, act := range a.Actions {
		t := &Type{Name: a.Name + "_" + act.Name, Description: act.Description, Agent: a.Name, Action: act.Name}
		if t.Description == "" {
			t.Description = fmt.Sprintf("Call %s.%s (an external agent's action) on the targets.", a.Name, act.Name)
		}
		for _, in := range act.Inputs {
			t.Args = append(t.Args, Arg{Name: in.Name, Description: in.Description, Type: ctyType(in.Type), Required: in.Required && in.Default == nil})
		}
		agent, action := a.Name, act.Name
		t.Request = func(args map[string]any) (Request, error) {
			input := map[string]any{}
			for k, v := range args {
				if v != nil {
					input[k] = v
				}
			}
			return Request{Agent: agent, Action: action, Input: input}, nil
		}
		out = append(out, t)
	}
	return out
}

// ctyType is the argument type of an input of type t.
func ctyType(t ddl.Type) cty.Type {
	switch t {
	case ddl.String:
		return cty.String
	case ddl.Integer, ddl.Number:
		return cty.Number
	case ddl.Boolean:
		return cty.Bool
	}
	return cty.DynamicPseudoType // list, map, any: the schema judges them
}
