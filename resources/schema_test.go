package resources_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/resources"
)

func TestFromSchema(t *testing.T) {
	a := &ddl.Agent{Name: "motd", Version: "1", Actions: []*ddl.Action{
		{Name: "set", Inputs: []ddl.Input{
			{Name: "content", Type: ddl.String, Required: true},
			{Name: "mode", Type: ddl.Integer, Required: true, Default: int64(420)},
			{Name: "tags", Type: ddl.List},
			{Name: "force", Type: ddl.Boolean},
		}},
		{Name: "show", Description: "Show it."},
	}}
	types := resources.FromSchema(a)
	tests := map[string]struct {
		typ      *resources.Type
		name     string
		args     map[string]any
		required []string
		input    map[string]any
		argTypes []cty.Type
	}{
		"inputs as arguments": {typ: types[0], name: "motd_set", args: map[string]any{"content": "hi", "mode": nil, "tags": []any{"a"}, "force": true},
			required: []string{"content"}, input: map[string]any{"content": "hi", "tags": []any{"a"}, "force": true},
			argTypes: []cty.Type{cty.String, cty.Number, cty.DynamicPseudoType, cty.Bool}},
		"no inputs": {typ: types[1], name: "motd_show", args: map[string]any{}, input: map[string]any{}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if tt.typ.Name != tt.name || tt.typ.Agent != "motd" {
				t.Fatalf("type %s for agent %s", tt.typ.Name, tt.typ.Agent)
			}
			var required []string
			var argTypes []cty.Type
			for _, arg := range tt.typ.Args {
				if arg.Required {
					required = append(required, arg.Name)
				}
				argTypes = append(argTypes, arg.Type)
			}
			if !cmp.Equal(required, tt.required) || len(argTypes) != len(tt.argTypes) {
				t.Fatalf("required %v, arg types %v", required, argTypes)
			}
			for i := range argTypes {
				if !argTypes[i].Equals(tt.argTypes[i]) {
					t.Errorf("arg %d: %s, want %s", i, argTypes[i].FriendlyName(), tt.argTypes[i].FriendlyName())
				}
			}
			req, err := tt.typ.Request(tt.args)
			if err != nil || req.Action != tt.typ.Action || !cmp.Equal(req.Input, tt.input) {
				t.Fatalf("request %+v, %v; want input %v", req, err, tt.input)
			}
		})
	}
}
