package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/resources"
)

// timeoutFleet records the timeout of every call.
type timeoutFleet struct {
	fakeFleet
	got map[string]time.Duration // action -> timeout
}

func (f *timeoutFleet) Call(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	f.mu.Lock()
	f.got[r.Action] = r.Timeout
	f.mu.Unlock()
	return f.fakeFleet.Call(ctx, r)
}

// The call timeout is the resource's own, else the type's natural one,
// else the run's default.
func TestCallTimeoutPrecedence(t *testing.T) {
	r := reg()
	slow := *r["t"]
	slow.Name = "slow"
	slow.CallTimeout = func(map[string]any) time.Duration { return 20 * time.Minute }
	r["slow"] = &slow
	own := res("own", []string{"n1"})
	own.Type, own.Timeout = "slow", 3*time.Second
	typed := res("typed", []string{"n1"})
	typed.Type = "slow"
	plain := res("plain", []string{"n1"})
	f := &timeoutFleet{fakeFleet: fakeFleet{nodes: []string{"n1"}}, got: map[string]time.Duration{}}
	cat := &catalog.Catalog{NodeSets: map[string]*catalog.NodeSet{}, Resources: []*catalog.Resource{own, typed, plain}}
	rep, err := engine.Run(context.Background(), cat, resources.Registry(r), f, engine.Options{DefaultTimeout: 7 * time.Second})
	if err != nil || rep.Outcome != engine.OutcomeOK {
		t.Fatalf("%v %s", err, rep.Summary())
	}
	want := map[string]time.Duration{"own": 3 * time.Second, "typed": 20 * time.Minute, "plain": 7 * time.Second}
	for action, d := range want {
		if f.got[action] != d {
			t.Errorf("%s: timeout %s, want %s", action, f.got[action], d)
		}
	}
}
