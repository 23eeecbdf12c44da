package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/emulator"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// start runs an emulated fleet of o.Count nodes on a fresh broker and
// returns a client whose key the nodes trust.
func start(t *testing.T, o emulator.Options) (*emulator.Fleet, *rpc.Client) {
	t.Helper()
	s := natstest.Start(t)
	conns := make([]*nats.Conn, 3)
	for i := range conns {
		nc, err := nats.Connect(natstest.URL(s))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[i] = nc
	}
	key, _ := nkeys.CreateUser()
	pub, _ := key.PublicKey()
	o.Trust = append(o.Trust, pub)
	f, err := emulator.Start(context.Background(), conns, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return f, rpc.NewClient(nc, key, rpc.ClientOptions{})
}

// TestEmulatorAnswers starts 2,000 emulated nodes and checks that each
// answers a ping, is in the registry with its templated facts, and that
// the emulated agent reports a change the first time only.
func TestEmulatorAnswers(t *testing.T) {
	const n = 2000
	f, c := start(t, emulator.Options{Count: n, Facts: []emulator.Fact{{Name: "cluster", Values: []string{"alfa", "bravo", "charlie"}}}})
	ctx := context.Background()
	ids := f.Identities()
	res, err := c.Call(ctx, fleet.CallRequest{Agent: "rpcutil", Action: "ping", Targets: ids, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != n || len(res.Missing) != 0 {
		t.Fatalf("ping: %d replies, %d missing (%v)", len(res.Replies), len(res.Missing), head(res.Missing))
	}
	for _, r := range res.Replies {
		if !r.OK() {
			t.Fatalf("ping %s: %s %s", r.Identity, r.Status, r.Message)
		}
	}
	for method, want := range map[string]int{rpc.DiscoverRegistry: 667, rpc.DiscoverBroadcast: 667} {
		// 2,000 nodes in this one process (under -race too) may all be
		// silent for longer than the default minimum wait: completeness is
		// what is tested here, not speed.
		o := rpc.DiscoverOptions{Method: method, Timeout: 30 * time.Second, MinWait: 3 * time.Second}
		nodes, err := c.Discover(ctx, fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "alfa"}}}, o)
		if err != nil || len(nodes) != want {
			t.Errorf("%s discovery of cluster=alfa: %d nodes (want %d), %v", method, len(nodes), want, err)
		}
	}
	for i, wantChanged := range []bool{true, false} {
		res, err := c.Call(ctx, fleet.CallRequest{Agent: "emulated", Action: "apply", Input: map[string]any{"step": "deploy"}, Targets: ids[:10], Timeout: 10 * time.Second})
		if err != nil || len(res.Replies) != 10 {
			t.Fatalf("apply %d: %v, %d replies", i, err, len(res.Replies))
		}
		for _, r := range res.Replies {
			if !r.OK() || r.Changed != wantChanged {
				t.Fatalf("apply %d on %s: %s %q changed=%v, want ok changed=%v", i, r.Identity, r.Status, r.Message, r.Changed, wantChanged)
			}
		}
	}
}

// TestBroadcastDiscoveryOnSlowFleet checks that broadcast discovery finds
// every node when replies are late and spread out: a fleet silent for
// longer than the quiet window after the request, and one whose replies
// trickle in over a second.
func TestBroadcastDiscoveryOnSlowFleet(t *testing.T) {
	cases := map[string]struct {
		nodes           int
		latency, jitter time.Duration
	}{
		"silent for 2.5 quiet windows": {nodes: 300, latency: 250 * time.Millisecond, jitter: 50 * time.Millisecond},
		"spread over a second":         {nodes: 300, jitter: time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, c := start(t, emulator.Options{Count: tc.nodes, Latency: tc.latency, LatencyJitter: tc.jitter, RegistryTTL: -1,
				Facts: []emulator.Fact{{Name: "cluster", Values: []string{"alfa", "bravo"}}}})
			for i := range 3 {
				nodes, err := c.Discover(context.Background(), fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "bravo"}}},
					// A minimum wait above the silence: what is tested is
					// that replies after it are all collected (the quiet
					// window counts from the last reply, queued replies are
					// drained), also on a loaded machine under -race.
					rpc.DiscoverOptions{Method: rpc.DiscoverBroadcast, Timeout: 10 * time.Second, MinWait: 2 * time.Second})
				if err != nil || len(nodes) != tc.nodes/2 {
					t.Fatalf("discovery %d: %d of %d nodes, %v", i, len(nodes), tc.nodes/2, err)
				}
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }
