package broker_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// TestStateSurvivesRestart stops the broker and starts it again on the
// same store and port: the run lock is still held (a second Lock fails
// with ErrLockHeld, its holder keeps it), the registry still lists the
// node, and the buckets are on file with one replica.
func TestStateSurvivesRestart(t *testing.T) {
	store := t.TempDir()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:-1", StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(b.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	holder, err := rpc.Connect(ctx, []string{b.ClientURL()}, "holder")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	lock, err := rpc.AcquireRunLock(ctx, holder, rpc.DefaultCollective, "deploy", "first run")
	if err != nil {
		t.Fatal(err)
	}
	info := fleet.NodeInfo{Identity: "web1", Collective: rpc.DefaultCollective}
	if err := rpc.Register(ctx, holder, info, time.Minute); err != nil {
		t.Fatal(err)
	}

	b.Shutdown()
	start := time.Now()
	b, err = broker.Start(broker.Config{Listen: u.Host, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	t.Logf("broker back in %v", time.Since(start).Round(time.Millisecond))

	nc, err := rpc.Connect(ctx, []string{b.ClientURL()}, "second")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kp, _ := nkeys.CreateUser()
	c := rpc.NewClient(nc, kp, rpc.ClientOptions{})
	_, _, err = c.Lock(ctx, "deploy", "second run")
	if !errors.Is(err, fleet.ErrLockHeld) {
		t.Fatalf("second lock after the restart: %v", err)
	}
	nodes, err := c.Discover(ctx, fleet.Filter{}, rpc.DiscoverOptions{Method: rpc.DiscoverRegistry})
	if err != nil || len(nodes) != 1 || nodes[0].Identity != "web1" {
		t.Fatalf("registry after the restart: %v %+v", err, nodes)
	}
	js, _ := jetstream.New(nc)
	for _, bucket := range []string{rpc.LockBucket(rpc.DefaultCollective), rpc.RegistryBucket(rpc.DefaultCollective), rpc.LastSeenBucket(rpc.DefaultCollective)} {
		s, err := js.Stream(ctx, "KV_"+bucket)
		if err != nil {
			t.Fatal(err)
		}
		if cfg := s.CachedInfo().Config; cfg.Storage != jetstream.FileStorage || cfg.Replicas != 1 {
			t.Errorf("%s: storage %v, %d replicas", bucket, cfg.Storage, cfg.Replicas)
		}
	}
	// The first run's holder reconnects and still holds its lock.
	waitFor(t, "holder reconnects", holder.IsConnected)
	t.Logf("holder reconnected %v after the restart", time.Since(start).Round(time.Millisecond))
	select {
	case err := <-lock.Lost():
		t.Fatalf("the holder lost its lock: %v", err)
	default:
	}
	if _, err := rpc.AcquireLock(ctx, nc, rpc.DefaultCollective, "deploy", "third run"); !errors.Is(err, fleet.ErrLockHeld) {
		t.Fatalf("third lock: %v", err)
	}
	lock.Release()
}
