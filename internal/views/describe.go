package views

import (
	"fmt"
	"io"
	"strings"

	"github.com/orch-fleet/orch/ddl"
)

// Describe is the view of orch rpc --describe: an agent's schema.
type Describe interface {
	Agent(s *ddl.Agent) error
}

// NewDescribe returns the view of an agent's schema: the schema's JSON, or
// its actions and inputs for people.
func NewDescribe(vt ViewType, v *View) Describe {
	if vt == JSON {
		return describeJSON{v}
	}
	return describeHuman{v.stdout}
}

type describeJSON struct{ v *View }

func (j describeJSON) Agent(s *ddl.Agent) error { return j.v.JSON(s) }

type describeHuman struct{ w io.Writer }

func (h describeHuman) Agent(s *ddl.Agent) error {
	fmt.Fprintf(h.w, "Agent %s %s\n", s.Name, s.Version)
	if s.Description != "" {
		fmt.Fprintf(h.w, "  %s\n", s.Description)
	}
	for _, a := range s.Actions {
		mut := "read-only"
		if a.Mutates {
			mut = "changes the node; supports no-op"
		}
		fmt.Fprintf(h.w, "\nAction %s (%s)\n", a.Name, mut)
		if a.Description != "" {
			fmt.Fprintf(h.w, "  %s\n", a.Description)
		}
		if len(a.Inputs) > 0 {
			fmt.Fprintln(h.w, "  Inputs:")
		}
		for _, in := range a.Inputs {
			fmt.Fprintf(h.w, "    %-14s %-8s %s", in.Name, in.Type, in.Description)
			if notes := inputNotes(in); len(notes) > 0 {
				fmt.Fprintf(h.w, " [%s]", strings.Join(notes, ", "))
			}
			fmt.Fprintln(h.w)
		}
		if len(a.Outputs) > 0 {
			fmt.Fprintln(h.w, "  Outputs:")
		}
		for _, o := range a.Outputs {
			fmt.Fprintf(h.w, "    %-14s %-8s %s\n", o.Name, o.Type, o.Description)
		}
	}
	return nil
}

// inputNotes are the constraints of an input, for people.
func inputNotes(in ddl.Input) []string {
	var notes []string
	if in.Required {
		notes = append(notes, "required")
	}
	if in.Default != nil {
		notes = append(notes, fmt.Sprintf("default %v", in.Default))
	}
	if in.Pattern != "" {
		notes = append(notes, "pattern "+in.Pattern)
	}
	if len(in.Enum) > 0 {
		notes = append(notes, fmt.Sprintf("one of %v", in.Enum))
	}
	if in.Min != nil {
		notes = append(notes, fmt.Sprintf("min %v", *in.Min))
	}
	if in.Max != nil {
		notes = append(notes, fmt.Sprintf("max %v", *in.Max))
	}
	if in.MaxLength > 0 {
		notes = append(notes, fmt.Sprintf("max length %d", in.MaxLength))
	}
	return notes
}

var (
	_ Describe = describeJSON{}
	_ Describe = describeHuman{}
)
