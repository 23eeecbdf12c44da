package builtin_test

import (
	"slices"
	"testing"

	"github.com/orch-fleet/orch/providers/builtin"
)

// TestEveryActionHandled checks, for every built-in provider, that each
// action of the schema clients see has a handler and each handler has a
// schema entry, and that the action table is consistent (input structs
// match the schema's inputs, schema defaults decode into them).
func TestEveryActionHandled(t *testing.T) {
	for _, spec := range builtin.Specs() {
		t.Run(spec.Name, func(t *testing.T) {
			if spec.Actions == nil {
				t.Fatalf("provider %s has no action table (Spec.Actions)", spec.Name)
			}
			table := spec.Actions()
			schema := spec.Schema().ActionNames()
			handled := table.Handled()
			for _, name := range schema {
				if !slices.Contains(handled, name) {
					t.Errorf("%s.%s is in the schema but has no handler", spec.Name, name)
				}
			}
			for _, name := range handled {
				if !slices.Contains(schema, name) {
					t.Errorf("%s.%s has a handler but is not in the schema", spec.Name, name)
				}
			}
			if got := table.Schema().Name; got != spec.Name {
				t.Errorf("action table declares agent %q, spec says %q", got, spec.Name)
			}
			if err := table.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}
