package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// None is the input of an action that takes no inputs.
type None struct{}

// Action is one action of an agent served by a handler of type H: its
// schema entry and its typed handler. Build it with New.
type Action[H any] struct {
	schema *ddl.Action
	input  reflect.Type
	run    func(ctx context.Context, h H, c *rpc.Call) (*rpc.Result, error)
}

// New declares an action: its schema entry and the handler serving it, whose
// input In is a struct with one `json` tagged field per schema input. fn is
// usually a method expression such as (*Handler).disable.
func New[H, In any](schema *ddl.Action, fn func(h H, ctx context.Context, c *rpc.Call, in *In) (*rpc.Result, error)) Action[H] {
	a := Action[H]{schema: schema, input: reflect.TypeFor[In]()}
	if fn == nil {
		return a // Check reports it
	}
	a.run = func(ctx context.Context, h H, c *rpc.Call) (*rpc.Result, error) {
		in, err := Decode[In](schema, c.Input)
		if err != nil {
			return nil, err
		}
		return fn(h, ctx, c, in)
	}
	return a
}

// Table is an agent's schema together with the handlers of its actions.
// Its schema is built once and shared: callers must not modify it.
type Table[H any] struct {
	schema  *ddl.Agent
	actions map[string]Action[H]
}

// NewTable declares an agent: agent's name, description and version (its
// Actions are ignored) and its actions, in the order the schema lists them.
func NewTable[H any](agent ddl.Agent, actions ...Action[H]) *Table[H] {
	t := &Table[H]{schema: &agent, actions: make(map[string]Action[H], len(actions))}
	t.schema.Actions = make([]*ddl.Action, 0, len(actions))
	for _, a := range actions {
		t.schema.Actions = append(t.schema.Actions, a.schema)
		if a.schema != nil {
			t.actions[a.schema.Name] = a
		}
	}
	return t
}

// Schema returns the agent's schema: every action declared in the table.
func (t *Table[H]) Schema() *ddl.Agent { return t.schema }

// Handled returns the names of the actions that have a handler, sorted.
func (t *Table[H]) Handled() []string {
	var names []string
	for name, a := range t.actions {
		if a.run != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Handle decodes c's input for its action and runs the action's handler on
// h. An action the table does not declare answers fleet.StatusUnknownAction,
// an input that does not decode fleet.StatusInvalidInput.
func (t *Table[H]) Handle(ctx context.Context, h H, c *rpc.Call) (*rpc.Result, error) {
	a, ok := t.actions[c.Action]
	if !ok || a.run == nil {
		return nil, fleet.Errorf(fleet.StatusUnknownAction, "%s has no action %q", t.schema.Name, c.Action)
	}
	return a.run(ctx, h, c)
}

// Decode returns in with the schema's defaults filled in for the inputs it
// lacks, decoded into a new In. in is normally already validated against
// schema (the rpc server does so before dispatch); values that still do not
// fit In are a *fleet.StatusError with fleet.StatusInvalidInput.
func Decode[In any](schema *ddl.Action, in map[string]any) (*In, error) {
	full := maps.Clone(in)
	if full == nil {
		full = map[string]any{}
	}
	for _, def := range schema.Inputs {
		if v, ok := full[def.Name]; (!ok || v == nil) && def.Default != nil {
			full[def.Name] = def.Default
		}
	}
	b, err := json.Marshal(full)
	if err != nil {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "%s: input is not JSON: %v", schema.Name, err)
	}
	out := new(In)
	if err := strictUnmarshal(b, out); err != nil {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "%s: %s", schema.Name, decodeError(err))
	}
	return out, nil
}

// strictUnmarshal decodes b into v, refusing fields v does not have.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// decodeError says which input is wrong, without Go type names where it can.
func decodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("input %q must be %s, got %s", te.Field, kindName(te.Type), te.Value)
	}
	return fmt.Sprintf("cannot decode the input: %v", err)
}

// kindName names a Go type the way the schema's types do.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	}
	return t.String()
}
