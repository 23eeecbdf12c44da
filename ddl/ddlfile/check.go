package ddlfile

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/orch-fleet/orch/ddl"
)

// types are the input and output types a schema may use.
var types = map[ddl.Type]bool{ddl.String: true, ddl.Integer: true, ddl.Number: true, ddl.Boolean: true, ddl.List: true, ddl.Map: true, ddl.Any: true}

// Check reports every way a schema is wrong: names that are not NameRE,
// duplicates, no version or no actions, unknown types, patterns that do not
// compile, constraints on the wrong type, defaults the input refuses, and
// sizes past the limits above. It normalises each default as Validate
// would (integers as int64).
func Check(a *ddl.Agent) error {
	var errs []error
	if !NameRE.MatchString(a.Name) {
		errs = append(errs, fmt.Errorf("agent name %q: want lower-case letters, digits and _, starting with a letter", a.Name))
	}
	if a.Version == "" || len(a.Version) > MaxText {
		errs = append(errs, fmt.Errorf("agent %s: version must be set (at most %d characters)", a.Name, MaxText))
	}
	if len(a.Actions) == 0 || len(a.Actions) > MaxActions {
		errs = append(errs, fmt.Errorf("agent %s: declares %d actions, want 1 to %d", a.Name, len(a.Actions), MaxActions))
	}
	seen := map[string]bool{}
	for i, act := range a.Actions {
		if act == nil {
			errs = append(errs, fmt.Errorf("agent %s: action %d is null", a.Name, i))
			continue
		}
		if seen[act.Name] {
			errs = append(errs, fmt.Errorf("action %s: declared twice", act.Name))
		}
		seen[act.Name] = true
		errs = append(errs, checkAction(act)...)
	}
	return errors.Join(errs...)
}

// checkAction checks one action's names, inputs and outputs.
func checkAction(act *ddl.Action) []error {
	var errs []error
	if !NameRE.MatchString(act.Name) {
		errs = append(errs, fmt.Errorf("action name %q: want lower-case letters, digits and _, starting with a letter", act.Name))
	}
	if len(act.Inputs) > MaxInputs || len(act.Outputs) > MaxInputs {
		errs = append(errs, fmt.Errorf("action %s: at most %d inputs and %d outputs", act.Name, MaxInputs, MaxInputs))
	}
	if len(act.Description) > MaxText {
		errs = append(errs, fmt.Errorf("action %s: description longer than %d characters", act.Name, MaxText))
	}
	seen := map[string]bool{}
	for i := range act.Inputs {
		in := &act.Inputs[i]
		if seen[in.Name] {
			errs = append(errs, fmt.Errorf("action %s: input %s declared twice", act.Name, in.Name))
		}
		seen[in.Name] = true
		if err := checkInput(in); err != nil {
			errs = append(errs, fmt.Errorf("action %s: input %q: %w", act.Name, in.Name, err))
		}
	}
	outs := map[string]bool{}
	for _, out := range act.Outputs {
		switch {
		case !NameRE.MatchString(out.Name) || outs[out.Name]:
			errs = append(errs, fmt.Errorf("action %s: output name %q is not a name or is declared twice", act.Name, out.Name))
		case !types[out.Type]:
			errs = append(errs, fmt.Errorf("action %s: output %s: unknown type %q", act.Name, out.Name, out.Type))
		}
		outs[out.Name] = true
	}
	return errs
}

// checkInput checks one input and normalises its default.
func checkInput(in *ddl.Input) error {
	switch {
	case !NameRE.MatchString(in.Name):
		return errors.New("want lower-case letters, digits and _, starting with a letter")
	case !types[in.Type]:
		return fmt.Errorf("unknown type %q (want string, integer, number, boolean, list, map or any)", in.Type)
	case len(in.Description) > MaxText || len(in.Pattern) > MaxText:
		return fmt.Errorf("description or pattern longer than %d characters", MaxText)
	case len(in.Enum) > 0 && in.Type != ddl.String:
		return errors.New("enum applies to strings only")
	case (in.Min != nil || in.Max != nil) && in.Type != ddl.Integer && in.Type != ddl.Number:
		return errors.New("min and max apply to numbers only")
	case in.Pattern != "" && in.Type != ddl.String && in.Type != ddl.List:
		return errors.New("pattern applies to strings and lists only")
	case in.MaxLength < 0:
		return errors.New("max_length must not be negative")
	}
	if in.Pattern != "" {
		if _, err := regexp.Compile(in.Pattern); err != nil {
			return fmt.Errorf("pattern does not compile: %w", err)
		}
	}
	if in.Default == nil {
		return nil
	}
	one := ddl.Input{Name: in.Name, Type: in.Type, Pattern: in.Pattern, Enum: in.Enum, Min: in.Min, Max: in.Max, MaxLength: in.MaxLength}
	v, err := (&ddl.Action{Name: "default", Inputs: []ddl.Input{one}}).Validate(map[string]any{in.Name: in.Default})
	if err != nil {
		var de *ddl.Error
		if errors.As(err, &de) {
			return fmt.Errorf("default %s", de.Reason)
		}
		return fmt.Errorf("default: %w", err)
	}
	in.Default = v[in.Name]
	return nil
}
