package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// TestDiscoverRegistryUnderChurn registers 200 nodes and keeps every one
// of them re-registering as fast as two writers can (hundreds of times a
// real fleet's rate) while discovery runs over and over: every discovery
// must return each node exactly once. It stops after 2,000 discoveries or
// 4 s, whichever comes first (a loaded machine under -race manages ~100).
// It runs with a fresh read of the registry per discovery and with the
// copy a watch keeps (Client.WatchRegistry).
func TestDiscoverRegistryUnderChurn(t *testing.T) {
	for name, watch := range map[string]bool{"fresh read": false, "watched": true} {
		t.Run(name, func(t *testing.T) { discoverUnderChurn(t, watch) })
	}
}

func discoverUnderChurn(t *testing.T, watch bool) {
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
	if watch {
		stopWatch, err := c.WatchRegistry(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stopWatch()
	}
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
	if n < 20 { // about 900 on 2 cores, 110 under the race detector
		t.Fatalf("only %d discoveries in %v", n, time.Since(start))
	}
	t.Logf("%d complete discoveries of %d nodes in %v while nodes re-registered %d times", n, nodes, time.Since(start).Round(time.Millisecond), puts.Load())
}

// TestTombstones: a node whose registration expires (it stopped
// heartbeating) is reported missing since its last heartbeat, with what it
// last said about itself; a node that deregisters leaves no trace; a node
// that keeps heartbeating is found.
func TestTombstones(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	info := func(id string) fleet.NodeInfo {
		return fleet.NodeInfo{Identity: id, Collective: rpc.DefaultCollective, Facts: map[string]any{"cluster": "alfa"}}
	}
	const ttl = time.Second
	for _, id := range []string{"alive", "hung", "stopped"} {
		if err := rpc.Register(ctx, nc, info(id), ttl); err != nil {
			t.Fatal(err)
		}
	}
	if err := rpc.Deregister(ctx, nc, rpc.DefaultCollective, "stopped"); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := rpc.Register(ctx, nc, info("alive"), ttl); err != nil {
			t.Fatal(err)
		}
		d, err := c.DiscoverFleet(ctx, fleet.Filter{}, rpc.DiscoverOptions{Method: rpc.DiscoverRegistry})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Missing) == 1 {
			if got := ids(d.Nodes); len(got) != 1 || got[0] != "alive" {
				t.Fatalf("nodes %v", got)
			}
			m := d.Missing[0]
			if m.Identity != "hung" || m.Facts["cluster"] != "alfa" || time.Since(m.LastSeen) < ttl || time.Since(m.LastSeen) > time.Minute {
				t.Fatalf("missing %+v", m)
			}
			// A filter the missing node does not match leaves it out.
			d, err := c.DiscoverFleet(ctx, fleet.Filter{Identities: []string{"alive"}}, rpc.DiscoverOptions{})
			if err != nil || len(d.Missing) != 0 || len(d.Nodes) != 1 {
				t.Fatalf("filtered: %v %+v", err, d)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: nodes %v, missing %+v", ids(d.Nodes), d.Missing)
		}
		time.Sleep(100 * time.Millisecond) // the heartbeat period of "alive"
	}
}

// TestDiscoverFallsBackWhenRegistryUnreadable: the registry exists but the
// client may not read it (its user has no JetStream API rights, as when
// the registry's broker is gone): auto discovery falls back to broadcast
// and says so once; an explicit registry discovery fails.
func TestDiscoverFallsBackWhenRegistryUnreadable(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "broker.conf")
	if err := os.WriteFile(conf, []byte(`authorization { users: [
  {user: node, password: n}
  {user: client, password: c, permissions: {publish: {deny: ["$JS.API.>"]}}}
] }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	nodeConn, err := nats.Connect(b.ClientURL(), nats.UserInfo("node", "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer nodeConn.Close()
	info := fleet.NodeInfo{Identity: "web1", Collective: rpc.DefaultCollective, Agents: map[string]string{"echo": "1"}}
	srv, err := rpc.NewServer(nodeConn, rpc.ServerOptions{Identity: "web1", Info: func() fleet.NodeInfo { return info }, Handlers: map[string]rpc.Handler{"echo": echo{"web1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rpc.Register(context.Background(), nodeConn, info, time.Minute); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(b.ClientURL(), nats.UserInfo("client", "c"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kp, _ := nkeys.CreateUser()
	c := rpc.NewClient(nc, kp, rpc.ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var warnings []string
	o := rpc.DiscoverOptions{Timeout: 300 * time.Millisecond, Warn: func(m string) { warnings = append(warnings, m) }}
	d, err := c.DiscoverFleet(ctx, fleet.Filter{}, o)
	if err != nil {
		t.Fatal(err)
	}
	if d.Method != rpc.DiscoverBroadcast || len(d.Nodes) != 1 || len(warnings) != 1 || !strings.Contains(warnings[0], "registry cannot be read") || d.Warning != warnings[0] {
		t.Fatalf("discovery %+v, warnings %q", d, warnings)
	}
	o.Method = rpc.DiscoverRegistry
	if _, err := c.Discover(ctx, fleet.Filter{}, o); err == nil {
		t.Fatal("explicit registry discovery succeeded")
	}
}
