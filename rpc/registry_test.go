package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// TestDiscoverRegistryUnderChurn registers 200 nodes and keeps every one
// of them re-registering as fast as two writers can (hundreds of times a
// real fleet's rate) while discovery runs over and over: every discovery
// must return each node exactly once. It stops after 2,000 discoveries or
// 4 s, whichever comes first, and needs at least 300.
func TestDiscoverRegistryUnderChurn(t *testing.T) {
	const nodes, discoveries = 200, 2000
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	infos := make([][]byte, nodes)
	for i := range nodes {
		info := fleet.NodeInfo{Identity: fmt.Sprintf("node%03d", i), Collective: rpc.DefaultCollective, Facts: map[string]any{"i": float64(i)}}
		if err := rpc.Register(ctx, nc, info, time.Minute); err != nil {
			t.Fatal(err)
		}
		infos[i], _ = json.Marshal(info)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, rpc.RegistryBucket(rpc.DefaultCollective))
	if err != nil {
		t.Fatal(err)
	}
	churnCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var puts atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for i := w; churnCtx.Err() == nil; i = (i + 2) % nodes {
				if _, err := kv.Put(churnCtx, fmt.Sprintf("node%03d", i), infos[i]); err == nil {
					puts.Add(1)
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	c, _ := newClient(t, s)
	start := time.Now()
	n := 0
	for ; n < discoveries && time.Since(start) < 4*time.Second; n++ {
		got, err := c.Discover(ctx, fleet.Filter{}, rpc.DiscoverOptions{Method: rpc.DiscoverRegistry})
		if err != nil {
			t.Fatalf("discovery %d: %v", n, err)
		}
		seen := map[string]bool{}
		for _, g := range got {
			if seen[g.Identity] {
				t.Fatalf("discovery %d: %s twice", n, g.Identity)
			}
			seen[g.Identity] = true
		}
		if len(seen) != nodes {
			t.Fatalf("discovery %d (after %d re-registrations): %d of %d nodes", n, puts.Load(), len(seen), nodes)
		}
	}
	if n < 300 {
		t.Fatalf("only %d discoveries in %v", n, time.Since(start))
	}
	t.Logf("%d complete discoveries of %d nodes in %v while nodes re-registered %d times", n, nodes, time.Since(start).Round(time.Millisecond), puts.Load())
}
