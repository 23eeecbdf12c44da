package engine

import (
	"errors"
	"testing"

	"github.com/orch-fleet/orch/call"
	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/resources"
)

// TestOutcomeNamesUnstartedAndCause: a resource's reason names its failed
// nodes, the nodes of batches never started, and a lost broker first.
func TestOutcomeNamesUnstartedAndCause(t *testing.T) {
	lost := &fleet.BrokerLostError{Broker: "nats://b1:4222", Err: errors.New("no broker came back within 15s (disconnected: EOF)")}
	cases := map[string]struct {
		res    *call.Result
		failed []string
		want   string
	}{
		"ok": {res: &call.Result{}, want: ""},
		"stopped between batches": {res: &call.Result{NotStarted: []string{"w3", "w4"}},
			want: "interrupted: 2 of 4 node(s) not started: w3, w4"},
		"failed and stopped": {res: &call.Result{NotStarted: []string{"w3", "w4"}}, failed: []string{"w1 (no answer)"},
			want: "1 of 4 node(s) failed: w1 (no answer); later batches: 2 of 4 node(s) not started: w3, w4"},
		"broker lost": {res: &call.Result{Err: lost, NotStarted: []string{"w3", "w4"}}, failed: []string{"w1 (no answer)", "w2 (no answer)"},
			want: "lost the broker nats://b1:4222: no broker came back within 15s (disconnected: EOF); 2 of 4 node(s) failed: w1 (no answer), w2 (no answer); later batches: 2 of 4 node(s) not started: w3, w4"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := &prepared{r: &catalog.Resource{}, req: resources.Request{Agent: "appmgr"}, targets: []string{"w1", "w2", "w3", "w4"}}
			o, reason := outcome(p, tc.res, tc.failed, false)
			if reason != tc.want || (o == OutcomeOK) != (tc.want == "") {
				t.Errorf("got %s %q, want %q", o, reason, tc.want)
			}
		})
	}
}
