package external_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/providers/external"
)

// TestProtocolDocumented keeps docs/agents.md in step with the protocol:
// every field of Request and Reply, and every ORCH_ variable, is there.
func TestProtocolDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/agents.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	names := []string{"ORCH_PROTOCOL", "ORCH_AGENT", "ORCH_ACTION", "ORCH_NODE", "ORCH_REQUEST_ID", "ORCH_CALLER", "ORCH_NOOP", "ORCH_TIMEOUT_MS", "ORCH_INPUT_NAME"}
	for _, v := range []any{external.Request{}, external.Reply{}} {
		for f := range reflect.TypeOf(v).Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
	}
	for _, name := range names {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/agents.md does not mention `%s`", name)
		}
	}
}
