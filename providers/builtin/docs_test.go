package builtin_test

import (
	"os"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
)

// TestProvidersDocumented keeps docs/providers.md in step with the schemas:
// every agent, action, input and output, and every resource type and
// argument, appears there.
func TestProvidersDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/providers.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	has := func(what, name string) {
		if !strings.Contains(doc, "`"+name+"`") && !strings.Contains(doc, "## "+name) {
			t.Errorf("docs/providers.md does not mention %s %s", what, name)
		}
	}
	for _, s := range builtin.Specs() {
		a := s.Schema()
		has("agent", a.Name)
		for _, act := range a.Actions {
			has("action "+a.Name+".", act.Name)
			for _, in := range act.Inputs {
				has("input of "+a.Name+"."+act.Name, in.Name)
			}
			for _, out := range act.Outputs {
				has("output of "+a.Name+"."+act.Name, out.Name)
			}
		}
	}
	reg := resources.Builtin()
	for _, name := range reg.Names() {
		has("resource type", name)
		typ, _ := reg.Lookup(name)
		for _, arg := range typ.Args {
			has("argument of "+name, arg.Name)
		}
	}
}
