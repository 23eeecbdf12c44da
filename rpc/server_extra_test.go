package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// shout is echo served under another name, as an extra agent.
type shout struct{ echo }

func (s shout) Schema() *ddl.Agent {
	a := s.echo.Schema()
	a.Name = "shout"
	return a
}

func TestSetExtra(t *testing.T) {
	s := natstest.Start(t)
	n := startNode(t, s, "n1", nil, nil, nil)
	c, _ := newClient(t, s)
	ctx := context.Background()
	say := func(t *testing.T, anyOne bool) fleet.Status {
		t.Helper()
		req := fleet.CallRequest{Agent: "shout", Action: "say", Input: map[string]any{"text": "hi"}, Targets: []string{"n1"}, Timeout: 2 * time.Second}
		call := c.Call
		if anyOne {
			req.Targets, call = nil, c.CallAnyOne
		}
		res, err := call(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replies) == 0 {
			return "no reply"
		}
		return res.Replies[0].Status
	}
	steps := []struct {
		name    string
		extra   map[string]rpc.Handler
		wantErr bool
		direct  fleet.Status
		anyOne  fleet.Status
	}{
		{name: "added", extra: map[string]rpc.Handler{"shout": shout{echo{"n1"}}}, direct: fleet.StatusOK, anyOne: fleet.StatusOK},
		{name: "kept", extra: map[string]rpc.Handler{"shout": shout{echo{"n1"}}}, direct: fleet.StatusOK, anyOne: fleet.StatusOK},
		{name: "a fixed agent's name is refused", extra: map[string]rpc.Handler{"echo": echo{"n1"}}, wantErr: true, direct: fleet.StatusOK, anyOne: fleet.StatusOK},
		{name: "removed", extra: nil, direct: fleet.StatusUnknownAgent, anyOne: "no reply"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := n.srv.SetExtra(ctx, st.extra); (err != nil) != st.wantErr {
				t.Fatalf("SetExtra: %v", err)
			}
			if got := say(t, false); got != st.direct {
				t.Errorf("direct call: %s, want %s", got, st.direct)
			}
			if got := say(t, true); got != st.anyOne {
				t.Errorf("any-one call: %s, want %s", got, st.anyOne)
			}
		})
	}
}
