package node_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/node"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/rpc"
)

// buggy is a provider whose only action panics.
type buggy struct{}

func buggySchema() *ddl.Agent {
	return &ddl.Agent{Name: "buggy", Version: "1", Actions: []*ddl.Action{{Name: "crash"}}}
}

func (buggy) Schema() *ddl.Agent { return buggySchema() }

func (buggy) Handle(context.Context, *rpc.Call) (*rpc.Result, error) {
	panic("buggy provider")
}

// TestProviderPanic: a provider panic is answered with status error, written
// to the audit log like any other request, and the node keeps serving.
func TestProviderPanic(t *testing.T) {
	s := natstest.Start(t)
	kp, pub := newKey(t)
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	spec := providers.Spec{Name: "buggy", Schema: buggySchema,
		New: func(hcl.Body, providers.Env) (rpc.Handler, hcl.Diagnostics) { return buggy{}, nil }}
	startNodeWith(t, fmt.Sprintf(`
identity  = "web1"
servers   = [%q]
data_dir  = %q
audit_log = %q
client "ops" { key = %q }
provider "buggy" {}
`, natstest.URL(s), dir, audit, pub), node.Options{Version: "test", Specs: append(builtin.Specs(), spec)})
	c := client(t, natstest.URL(s), kp, "ops")
	waitNodes(t, c, fleet.Filter{}, 1)
	tests := []struct {
		agent, action string
		want          fleet.Status
	}{
		{"buggy", "crash", fleet.StatusInternalError},
		{"rpcutil", "ping", fleet.StatusOK},
		{"buggy", "crash", fleet.StatusInternalError},
		{"rpcutil", "ping", fleet.StatusOK},
	}
	for _, tt := range tests {
		res, err := c.Call(context.Background(), fleet.CallRequest{Agent: tt.agent, Action: tt.action, Targets: []string{"web1"}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replies) != 1 {
			t.Fatalf("%s.%s: no reply (missing %v): the node stopped serving", tt.agent, tt.action, res.Missing)
		}
		r := res.Replies[0]
		if r.Status != tt.want {
			t.Fatalf("%s.%s: status %s %q, want %s", tt.agent, tt.action, r.Status, r.Message, tt.want)
		}
		if tt.want == fleet.StatusInternalError && !strings.Contains(r.Message, "buggy.crash") {
			t.Errorf("message %q does not name the agent and action", r.Message)
		}
		line, ok := findAudit(t, audit, r.RequestID)
		if !ok || line.Status != tt.want || line.Agent != tt.agent || line.Action != tt.action || line.Message != r.Message {
			t.Errorf("%s.%s: audit line %+v (found %v), want status %s", tt.agent, tt.action, line, ok, tt.want)
		}
	}
}
