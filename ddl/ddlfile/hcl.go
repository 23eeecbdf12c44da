package ddlfile

import (
	"encoding/json"

	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/orch-fleet/orch/ddl"
)

// hclAgent is the HCL form of a ddl.Agent.
type hclAgent struct {
	Name        string      `hcl:"name"`
	Description string      `hcl:"description,optional"`
	Version     string      `hcl:"version"`
	Actions     []hclAction `hcl:"action,block"`
}

type hclAction struct {
	Name        string      `hcl:"name,label"`
	Description string      `hcl:"description,optional"`
	Mutates     bool        `hcl:"mutates,optional"`
	Inputs      []hclInput  `hcl:"input,block"`
	Outputs     []ddlOutput `hcl:"output,block"`
}

type hclInput struct {
	Name        string    `hcl:"name,label"`
	Description string    `hcl:"description,optional"`
	Type        string    `hcl:"type"`
	Required    bool      `hcl:"required,optional"`
	Default     cty.Value `hcl:"default,optional"`
	Pattern     string    `hcl:"pattern,optional"`
	Enum        []string  `hcl:"enum,optional"`
	Min         *float64  `hcl:"min,optional"`
	Max         *float64  `hcl:"max,optional"`
	MaxLength   int       `hcl:"max_length,optional"`
}

type ddlOutput struct {
	Name        string `hcl:"name,label"`
	Description string `hcl:"description,optional"`
	Type        string `hcl:"type"`
}

// parseHCL decodes the HCL form; errors are HCL diagnostics with positions.
func parseHCL(filename string, src []byte) (*ddl.Agent, error) {
	f, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	var h hclAgent
	if diags := gohcl.DecodeBody(f.Body, nil, &h); diags.HasErrors() {
		return nil, diags
	}
	a := &ddl.Agent{Name: h.Name, Description: h.Description, Version: h.Version}
	for _, ha := range h.Actions {
		act := &ddl.Action{Name: ha.Name, Description: ha.Description, Mutates: ha.Mutates}
		for _, hi := range ha.Inputs {
			def, err := goValue(hi.Default)
			if err != nil {
				return nil, err
			}
			act.Inputs = append(act.Inputs, ddl.Input{Name: hi.Name, Description: hi.Description, Type: ddl.Type(hi.Type),
				Required: hi.Required, Default: def, Pattern: hi.Pattern, Enum: hi.Enum, Min: hi.Min, Max: hi.Max, MaxLength: hi.MaxLength})
		}
		for _, ho := range ha.Outputs {
			act.Outputs = append(act.Outputs, ddl.Output{Name: ho.Name, Description: ho.Description, Type: ddl.Type(ho.Type)})
		}
		a.Actions = append(a.Actions, act)
	}
	return a, nil
}

// goValue is an HCL value as the Go value JSON would give: nil for null or
// unset.
func goValue(v cty.Value) (any, error) {
	if v == cty.NilVal || v.IsNull() {
		return nil, nil
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}
