package resources

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
)

// genericRPC is rpc: any agent action, so that a site's own providers are
// usable from playbooks without a Go resource type. The playbook's optional
// expect expression judges each reply.
func genericRPC() *Type {
	return &Type{
		Name:        "rpc",
		Description: "Call any agent action on the targets; optional expect judges each reply.",
		Args: []Arg{
			{Name: "agent", Type: cty.String, Required: true, Description: "the agent to call, e.g. nrpe"},
			{Name: "action", Type: cty.String, Required: true, Description: "the action, e.g. run"},
			{Name: "inputs", Type: cty.DynamicPseudoType, Description: "the action's inputs, an object"},
		},
		Request: func(args map[string]any) (Request, error) {
			agent, _ := args["agent"].(string)
			action, _ := args["action"].(string)
			if agent == "" || action == "" {
				return Request{}, fmt.Errorf("rpc needs agent and action")
			}
			input := map[string]any{}
			switch in := args["inputs"].(type) {
			case nil:
			case map[string]any:
				input = in
			default:
				return Request{}, fmt.Errorf("rpc inputs must be an object, got %T", in)
			}
			return Request{Agent: agent, Action: action, Input: input}, nil
		},
	}
}
