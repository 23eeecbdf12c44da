package rpc_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// boom is a test provider with a bug: boom.explode panics, boom.fine answers.
type boom struct{}

func (boom) Schema() *ddl.Agent {
	return &ddl.Agent{Name: "boom", Version: "1", Actions: []*ddl.Action{{Name: "explode"}, {Name: "fine"}}}
}

func (boom) Handle(_ context.Context, c *rpc.Call) (*rpc.Result, error) {
	if c.Action == "explode" {
		var m map[string]int
		m["x"] = 1 // assignment to a nil map: a runtime panic
	}
	return &rpc.Result{Message: "fine"}, nil
}

// TestHandlerPanic proves that a panicking handler answers its request with
// StatusInternalError naming the agent and action, is audited, and leaves
// the server answering the next requests.
func TestHandlerPanic(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	audit := map[string]rpc.AuditEntry{}
	info := fleet.NodeInfo{Identity: "solo", Collective: rpc.DefaultCollective, Agents: map[string]string{"boom": "1", "echo": "1"}}
	srv, err := rpc.NewServer(nc, rpc.ServerOptions{
		Identity: "solo", Info: func() fleet.NodeInfo { return info },
		Handlers: map[string]rpc.Handler{"boom": boom{}, "echo": echo{"solo"}},
		Audit: func(e rpc.AuditEntry) {
			mu.Lock()
			defer mu.Unlock()
			audit[e.RequestID] = e
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	// No registry here: the client pins the node's key.
	cnc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cnc.Close)
	kp, _ := nkeys.CreateUser()
	c := rpc.NewClient(cnc, kp, rpc.ClientOptions{NodeKeys: map[string]string{"solo": srv.PublicKey()}})
	tests := []struct {
		agent, action string
		input         map[string]any
		want          fleet.Status
		wantMsg       string
	}{
		{"boom", "explode", nil, fleet.StatusInternalError, "boom.explode failed with an internal error"},
		{"boom", "fine", nil, fleet.StatusOK, "fine"},
		{"boom", "explode", nil, fleet.StatusInternalError, "assignment to entry in nil map"},
		{"echo", "say", map[string]any{"text": "hi"}, fleet.StatusOK, ""},
	}
	for _, tt := range tests {
		res, err := c.Call(context.Background(), fleet.CallRequest{Agent: tt.agent, Action: tt.action, Input: tt.input, Targets: []string{"solo"}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("%s.%s: %v", tt.agent, tt.action, err)
		}
		if len(res.Replies) != 1 {
			t.Fatalf("%s.%s: %d replies, missing %v: the server stopped answering", tt.agent, tt.action, len(res.Replies), res.Missing)
		}
		r := res.Replies[0]
		if r.Status != tt.want || !strings.Contains(r.Message, tt.wantMsg) {
			t.Errorf("%s.%s: reply %s %q, want %s containing %q", tt.agent, tt.action, r.Status, r.Message, tt.want, tt.wantMsg)
		}
		if strings.Contains(r.Message, "goroutine") || strings.Contains(r.Message, ".go:") {
			t.Errorf("%s.%s: the reply carries a stack: %q", tt.agent, tt.action, r.Message)
		}
		mu.Lock()
		e, ok := audit[r.RequestID]
		mu.Unlock()
		if !ok || e.Status != tt.want || e.Agent != tt.agent || e.Action != tt.action {
			t.Errorf("%s.%s: audit entry %+v (found %v), want status %s", tt.agent, tt.action, e, ok, tt.want)
		}
	}
}
