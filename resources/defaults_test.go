package resources_test

import (
	"encoding/json"
	"testing"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
)

// TestDefaultsAgreeWithSchemas keeps the defaults of resource arguments that
// are also inputs of the action the type calls equal to the defaults the
// agent's schema declares. The schema is the source; a resource type
// restates a default only where the client side needs its value (see
// haproxy_drain's wait_timeout). This test imports providers/builtin, which
// package resources itself must not link.
func TestDefaultsAgreeWithSchemas(t *testing.T) {
	reg := resources.Builtin()
	for _, name := range reg.Names() {
		typ, _ := reg.Lookup(name)
		if typ.Agent == "" {
			continue // rpc: the arguments name the agent
		}
		t.Run(name, func(t *testing.T) {
			schema := builtin.Schema(typ.Agent)
			if schema == nil {
				t.Fatalf("no built-in agent %q", typ.Agent)
			}
			act, ok := schema.Action(typ.Action)
			if !ok {
				t.Fatalf("agent %s has no action %q", typ.Agent, typ.Action)
			}
			for _, arg := range typ.Args {
				in, isInput := act.Input(arg.Name)
				if !isInput || arg.Default == cty.NilVal {
					continue // not sent to the agent, or the schema's default applies
				}
				if in.Default == nil {
					t.Errorf("argument %s has a default the %s.%s schema does not declare", arg.Name, typ.Agent, typ.Action)
					continue
				}
				got, err := ctyjson.Marshal(arg.Default, arg.Default.Type())
				if err != nil {
					t.Fatal(err)
				}
				want, err := json.Marshal(in.Default)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Errorf("argument %s defaults to %s, the %s.%s schema to %s", arg.Name, got, typ.Agent, typ.Action, want)
				}
			}
		})
	}
}
