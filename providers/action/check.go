package action

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/orch-fleet/orch/ddl"
)

// Check reports every way the table's schema and handlers disagree: an
// action without a name, declared twice or without a handler; an input
// struct whose `json` fields are not exactly the action's schema inputs, or
// whose field types do not fit the inputs' types; a schema default that
// does not decode into the input struct.
func (t *Table[H]) Check() error {
	var errs []error
	seen := map[string]bool{}
	for _, act := range t.schema.Actions {
		switch {
		case act == nil || act.Name == "":
			errs = append(errs, fmt.Errorf("%s: an action has no schema entry or no name", t.schema.Name))
			continue
		case seen[act.Name]:
			errs = append(errs, fmt.Errorf("%s.%s: declared twice", t.schema.Name, act.Name))
			continue
		}
		seen[act.Name] = true
		a := t.actions[act.Name]
		if a.run == nil {
			errs = append(errs, fmt.Errorf("%s.%s: no handler", t.schema.Name, act.Name))
		}
		if err := checkInput(act, a.input); err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", t.schema.Name, err))
		}
	}
	return errors.Join(errs...)
}

// checkInput compares an input struct with the action's schema inputs.
func checkInput(act *ddl.Action, typ reflect.Type) error {
	if typ.Kind() != reflect.Struct {
		return fmt.Errorf("%s: input type %s is not a struct", act.Name, typ)
	}
	fields := jsonFields(typ)
	var errs []string
	for _, in := range act.Inputs {
		ft, ok := fields[in.Name]
		if !ok {
			errs = append(errs, fmt.Sprintf("schema input %q has no field in %s", in.Name, typ))
			continue
		}
		if !fits(in.Type, ft) {
			errs = append(errs, fmt.Sprintf("input %q is %s in the schema but %s in %s", in.Name, in.Type, ft, typ))
		}
	}
	for name := range fields {
		if _, ok := act.Input(name); !ok {
			errs = append(errs, fmt.Sprintf("field %q of %s is not a schema input", name, typ))
		}
	}
	if _, err := decodeDefaults(act, typ); err != nil {
		errs = append(errs, fmt.Sprintf("schema defaults do not decode: %v", err))
	}
	if len(errs) == 0 {
		return nil
	}
	slices.Sort(errs)
	return fmt.Errorf("%s: %s", act.Name, strings.Join(errs, "; "))
}

// decodeDefaults decodes the action's defaults alone into a new value of typ.
func decodeDefaults(act *ddl.Action, typ reflect.Type) (any, error) {
	defaults := map[string]any{}
	for _, in := range act.Inputs {
		if in.Default != nil {
			defaults[in.Name] = in.Default
		}
	}
	b, err := json.Marshal(defaults)
	if err != nil {
		return nil, err
	}
	v := reflect.New(typ).Interface()
	return v, strictUnmarshal(b, v)
}

// jsonFields maps the JSON names of a struct's exported fields to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// fits reports whether a field of Go type ft can hold an input of type t.
func fits(t ddl.Type, ft reflect.Type) bool {
	if ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	k := ft.Kind()
	switch t {
	case ddl.String:
		return k == reflect.String
	case ddl.Integer:
		return k >= reflect.Int && k <= reflect.Uint64 || k == reflect.Float64
	case ddl.Number:
		return k == reflect.Float64 || k == reflect.Float32
	case ddl.Boolean:
		return k == reflect.Bool
	case ddl.List:
		return k == reflect.Slice
	case ddl.Map:
		return k == reflect.Map || k == reflect.Struct
	}
	return true // Any, or a type the schema itself gets wrong (ddl reports it)
}
