// Package ddl holds the schemas with which agents declare their actions: the
// inputs each action takes (type, required, default, validation), the outputs
// it returns, and whether it changes anything on the node.
//
// The node validates every request against the schema before dispatch, and the
// client validates before sending and converts command-line key=value strings
// into typed values, so both ends agree on what an action accepts.
//
//	act := &ddl.Action{Name: "disable", Mutates: true, Inputs: []ddl.Input{
//		{Name: "backend", Type: ddl.String, Required: true, Pattern: `^[\w.-]+$`},
//	}}
//	in, err := act.Validate(map[string]any{"backend": "web"})
package ddl

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Type is the type of an action input or output.
type Type string

// The types an input or output can have. Values travel as JSON, so a List is
// a JSON array, a Map a JSON object and Any whatever JSON holds.
const (
	String  Type = "string"
	Integer Type = "integer"
	Number  Type = "number"
	Boolean Type = "boolean"
	List    Type = "list"
	Map     Type = "map"
	Any     Type = "any"
)

// Input declares one input of an action.
type Input struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Type        Type     `json:"type"`
	Required    bool     `json:"required,omitempty"`
	Default     any      `json:"default,omitempty"`
	Pattern     string   `json:"pattern,omitempty"`    // regular expression a string (or each string of a list) must match
	Enum        []string `json:"enum,omitempty"`       // allowed values of a string
	Min         *float64 `json:"min,omitempty"`        // lowest allowed number
	Max         *float64 `json:"max,omitempty"`        // highest allowed number
	MaxLength   int      `json:"max_length,omitempty"` // longest allowed string, or most list items; 0 means no limit
}

// Output declares one field of an action's reply data.
type Output struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Type        Type   `json:"type"`
}

// Action declares one action of an agent.
type Action struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Inputs      []Input  `json:"inputs,omitempty"`
	Outputs     []Output `json:"outputs,omitempty"`
	// Mutates says the action can change the node. Such actions honour the
	// request's no-op flag by reporting what they would do instead.
	Mutates bool `json:"mutates,omitempty"`
}

// Agent declares an agent: a named set of actions served by a provider.
type Agent struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Version     string    `json:"version"`
	Actions     []*Action `json:"actions"`
}

// Action returns the named action of the agent.
func (a *Agent) Action(name string) (*Action, bool) {
	for _, act := range a.Actions {
		if act.Name == name {
			return act, true
		}
	}
	return nil, false
}

// ActionNames returns the names of the agent's actions, sorted.
func (a *Agent) ActionNames() []string {
	names := make([]string, 0, len(a.Actions))
	for _, act := range a.Actions {
		names = append(names, act.Name)
	}
	sort.Strings(names)
	return names
}

// Input returns the named input of the action.
func (a *Action) Input(name string) (*Input, bool) {
	for i := range a.Inputs {
		if a.Inputs[i].Name == name {
			return &a.Inputs[i], true
		}
	}
	return nil, false
}

// Error is a validation failure. Missing tells a required input that was not
// given apart from an input whose value is wrong, so that callers can map the
// two to different status codes.
type Error struct {
	Action  string
	Input   string
	Missing bool
	Reason  string
}

// Error says which input of which action is wrong and why.
func (e *Error) Error() string {
	if e.Missing {
		return fmt.Sprintf("%s: missing required input %q", e.Action, e.Input)
	}
	if e.Input == "" {
		return fmt.Sprintf("%s: %s", e.Action, e.Reason)
	}
	return fmt.Sprintf("%s: input %q: %s", e.Action, e.Input, e.Reason)
}

// Validate checks in against the action's inputs and returns a new map with
// defaults filled in and numbers normalised (integers as int64, other numbers
// as float64). Unknown inputs are rejected. The error, if any, is an *Error.
func (a *Action) Validate(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(a.Inputs))
	for k := range in {
		if _, ok := a.Input(k); !ok {
			return nil, &Error{Action: a.Name, Input: k, Reason: fmt.Sprintf("unknown input; %s takes %s", a.Name, a.inputList())}
		}
	}
	for i := range a.Inputs {
		def := &a.Inputs[i]
		v, ok := in[def.Name]
		if !ok || v == nil {
			if def.Required {
				return nil, &Error{Action: a.Name, Input: def.Name, Missing: true}
			}
			if def.Default != nil {
				out[def.Name] = def.Default
			}
			continue
		}
		nv, err := def.check(v)
		if err != nil {
			return nil, &Error{Action: a.Name, Input: def.Name, Reason: err.Error()}
		}
		out[def.Name] = nv
	}
	return out, nil
}

func (a *Action) inputList() string {
	if len(a.Inputs) == 0 {
		return "no inputs"
	}
	names := make([]string, len(a.Inputs))
	for i, in := range a.Inputs {
		names[i] = in.Name
	}
	return strings.Join(names, ", ")
}

// check validates one value and returns it normalised.
func (in *Input) check(v any) (any, error) {
	switch in.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be a string, got %s", jsonKind(v))
		}
		return s, in.checkString(s)
	case Integer, Number:
		f, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		if in.Type == Integer && f != math.Trunc(f) {
			return nil, fmt.Errorf("must be a whole number, got %v", f)
		}
		if in.Min != nil && f < *in.Min {
			return nil, fmt.Errorf("must be at least %v, got %v", *in.Min, f)
		}
		if in.Max != nil && f > *in.Max {
			return nil, fmt.Errorf("must be at most %v, got %v", *in.Max, f)
		}
		if in.Type == Integer {
			return int64(f), nil
		}
		return f, nil
	case Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("must be true or false, got %s", jsonKind(v))
		}
		return b, nil
	case List:
		l, ok := v.([]any)
		if !ok {
			if ss, isSS := v.([]string); isSS {
				l = make([]any, len(ss))
				for i, s := range ss {
					l[i] = s
				}
			} else {
				return nil, fmt.Errorf("must be a list, got %s", jsonKind(v))
			}
		}
		if in.MaxLength > 0 && len(l) > in.MaxLength {
			return nil, fmt.Errorf("must have at most %d items, got %d", in.MaxLength, len(l))
		}
		for i, item := range l {
			if s, isStr := item.(string); isStr && in.Pattern != "" {
				if err := in.matchPattern(s); err != nil {
					return nil, fmt.Errorf("item %d: %w", i, err)
				}
			}
		}
		return l, nil
	case Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("must be a map, got %s", jsonKind(v))
		}
		return m, nil
	case Any, "":
		return v, nil
	}
	return nil, fmt.Errorf("schema declares unknown type %q", in.Type)
}

func (in *Input) checkString(s string) error {
	if in.MaxLength > 0 && len(s) > in.MaxLength {
		return fmt.Errorf("must be at most %d characters long, got %d", in.MaxLength, len(s))
	}
	if len(in.Enum) > 0 {
		found := false
		for _, e := range in.Enum {
			if s == e {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("must be one of %s, got %q", strings.Join(in.Enum, ", "), s)
		}
	}
	return in.matchPattern(s)
}

func (in *Input) matchPattern(s string) error {
	if in.Pattern == "" {
		return nil
	}
	re, err := regexp.Compile(in.Pattern)
	if err != nil {
		return fmt.Errorf("schema pattern %q does not compile: %v", in.Pattern, err)
	}
	if !re.MatchString(s) {
		return fmt.Errorf("%q does not match %s", s, in.Pattern)
	}
	return nil
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case int32:
		return float64(n), nil
	case uint64:
		return float64(n), nil
	case json.Number:
		return n.Float64()
	}
	return 0, fmt.Errorf("must be a number, got %s", jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, float32, int, int64, int32, uint64, json.Number:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a map"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// ParseArgs turns command-line "key=value" strings into typed inputs following
// the action's schema: numbers and booleans are parsed, a list is a JSON array
// or comma-separated values, a map a JSON object. The result still needs
// Validate.
func (a *Action) ParseArgs(args []string) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for _, arg := range args {
		k, raw, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return nil, &Error{Action: a.Name, Reason: fmt.Sprintf("argument %q is not key=value", arg)}
		}
		def, found := a.Input(k)
		if !found {
			return nil, &Error{Action: a.Name, Input: k, Reason: fmt.Sprintf("unknown input; %s takes %s", a.Name, a.inputList())}
		}
		v, err := def.parse(raw)
		if err != nil {
			return nil, &Error{Action: a.Name, Input: k, Reason: err.Error()}
		}
		out[k] = v
	}
	return out, nil
}

func (in *Input) parse(raw string) (any, error) {
	switch in.Type {
	case String:
		return raw, nil
	case Integer:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", raw)
		}
		return n, nil
	case Number:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", raw)
		}
		return f, nil
	case Boolean:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", raw)
		}
		return b, nil
	case List:
		if strings.HasPrefix(strings.TrimSpace(raw), "[") {
			var l []any
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				return nil, fmt.Errorf("not a JSON list: %v", err)
			}
			return l, nil
		}
		var l []any
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				l = append(l, s)
			}
		}
		return l, nil
	case Map:
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, fmt.Errorf("not a JSON object: %v", err)
		}
		return m, nil
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err == nil {
		return v, nil
	}
	return raw, nil
}
