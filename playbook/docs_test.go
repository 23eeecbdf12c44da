package playbook_test

import (
	"os"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/playbook"
)

// TestFunctionsDocumented keeps docs/playbooks.md's function table in step
// with the functions playbooks can call.
func TestFunctionsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/playbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range playbook.FunctionNames() {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("function %s is not documented in docs/playbooks.md", name)
		}
	}
}
