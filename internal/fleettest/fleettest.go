// Package fleettest starts in-process node daemons on an embedded broker,
// for tests that need a real fleet without separate processes.
package fleettest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/node"
	"github.com/orch-fleet/orch/rpc"
)

// Fleet is a broker and its nodes; everything stops when the test ends.
type Fleet struct {
	// URL is the broker's client URL.
	URL string
	// KeyFile holds the seed of Key, the client key every node trusts.
	KeyFile string
	Key     nkeys.KeyPair
	// Dir holds the node configs and data.
	Dir   string
	stops map[string]func()
}

// Start starts an embedded broker and a node daemon per entry of nodes
// (identity -> extra config, e.g. facts and provider blocks), trusting a
// fresh client key, and waits until every node is registered.
func Start(t testing.TB, nodes map[string]string) *Fleet {
	t.Helper()
	s := natstest.Start(t)
	f := &Fleet{URL: natstest.URL(s), Dir: t.TempDir(), stops: map[string]func(){}}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	f.Key = kp
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	f.KeyFile = filepath.Join(f.Dir, "client.nk")
	if err := os.WriteFile(f.KeyFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	for id, extra := range nodes {
		path := filepath.Join(f.Dir, id+".hcl")
		cfg := fmt.Sprintf("identity = %q\nservers = [%q]\ndata_dir = %q\nclient \"test\" { key = %q }\n%s", id, f.URL, filepath.Join(f.Dir, id), pub, extra)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c, diags := node.LoadConfig(path)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		n, diags := node.New(c, node.Options{Version: "test"})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = n.Run(ctx, nil); close(done) }()
		var once sync.Once
		f.stops[id] = func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(f.stops[id])
	}
	cl := f.Client(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, err := cl.Discover(context.Background(), fleet.Filter{}, rpc.DiscoverOptions{}); err == nil && len(got) == len(nodes) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d nodes did not register", len(nodes))
		}
	}
}

// Stop stops a node cleanly (it deregisters).
func (f *Fleet) Stop(id string) { f.stops[id]() }

// Client returns an rpc client signing with the trusted key.
func (f *Fleet) Client(t testing.TB) *rpc.Client {
	t.Helper()
	nc, err := rpc.Connect(context.Background(), []string{f.URL}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return rpc.NewClient(nc, f.Key, rpc.ClientOptions{Name: "test"})
}
