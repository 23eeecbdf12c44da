package rpc_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// A renewal that landed although its answer was lost (a broker failing
// over) leaves the entry ours under a newer revision: the holder adopts it
// and keeps the lock; a write of another value is a loss.
func TestRunLockAdoptsItsOwnLandedRenewal(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := context.Background()
	const interval = 50 * time.Millisecond
	l, err := rpc.AcquireRunLockEvery(ctx, nc, rpc.DefaultCollective, "web", "me", interval)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, rpc.LockBucket(rpc.DefaultCollective))
	if err != nil {
		t.Fatal(err)
	}
	key := rpc.KVKey("web")
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// The holder's own value, written again: its revision moves on.
	if _, err := kv.Put(ctx, key, e.Value()); err != nil {
		t.Fatal(err)
	}
	select {
	case why := <-l.Lost():
		t.Fatalf("lost after its own value was rewritten: %v", why)
	case <-time.After(10 * interval): // several renewals
	}
	if _, err := kv.Put(ctx, key, []byte(`{"holder":"another run"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("a takeover by another value was not noticed")
	}
}

// Release removes the entry also when a renewal of its own landed unseen.
func TestRunLockReleaseAfterLandedRenewal(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := context.Background()
	l, err := rpc.AcquireRunLockEvery(ctx, nc, rpc.DefaultCollective, "web", "me", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, rpc.LockBucket(rpc.DefaultCollective))
	if err != nil {
		t.Fatal(err)
	}
	key := rpc.KVKey("web")
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, key, e.Value()); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := rpc.AcquireRunLockEvery(ctx, nc, rpc.DefaultCollective, "web", "next", time.Hour); err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
}

// Release keeps trying while the broker is away (a restart, a stream's
// leader election) and removes the lock once it is back, so that the next
// run is not refused for LockTTL; when the broker does not come back in
// time it says so.
func TestRunLockReleaseRidesOutABrokerRestart(t *testing.T) {
	nc, stop, restart := brokerToRestart(t)
	ctx := context.Background()
	l, err := rpc.AcquireRunLockEvery(ctx, nc, rpc.DefaultCollective, "web", "me", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	released := make(chan error, 1)
	go func() { released <- l.Release() }()
	time.Sleep(4 * time.Second) // longer than one attempt's timeout
	restart()
	select {
	case err := <-released:
		if err != nil {
			t.Fatalf("release across a broker restart: %v", err)
		}
	case <-time.After(rpc.LockReleaseWait + 5*time.Second):
		t.Fatal("release did not return")
	}
	l2, err := rpc.AcquireRunLockEvery(ctx, nc, rpc.DefaultCollective, "web", "next", time.Hour)
	if err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	// A broker that does not come back: Release gives up and says why.
	rpc.SetReleaseWait(l2, time.Second)
	nc.Close()
	if err := l2.Release(); err == nil || !strings.Contains(err.Error(), "could not release the run lock") {
		t.Fatalf("release without a broker: %v", err)
	}
}

// Taking a lock while the broker is away (a restart, a stream's leader
// election) keeps trying for LockTakeWait, longer than one request's
// timeout, and takes it once the broker is back.
func TestRunLockTakeRidesOutABrokerRestart(t *testing.T) {
	nc, stop, restart := brokerToRestart(t)
	ctx := context.Background()
	first, err := rpc.AcquireRunLockEvery(ctx, nc, rpc.DefaultCollective, "web", "first", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	stop()
	taken := make(chan error, 1)
	go func() {
		l, err := rpc.AcquireRunLockEvery(ctx, nc, rpc.DefaultCollective, "web", "second", time.Hour)
		if err == nil {
			err = l.Release()
		}
		taken <- err
	}()
	time.Sleep(6 * time.Second) // longer than a JetStream request's default timeout
	restart()
	select {
	case err := <-taken:
		if err != nil {
			t.Fatalf("taking the lock across a broker restart: %v", err)
		}
	case <-time.After(rpc.LockTakeWait + 5*time.Second):
		t.Fatal("taking the lock did not return")
	}
}

// brokerToRestart starts a broker with a store of its own and a client
// that reconnects at once; stop shuts the broker down, restart starts it
// again on the same port and store.
func brokerToRestart(t *testing.T) (nc *nats.Conn, stop, restart func()) {
	t.Helper()
	dir := t.TempDir()
	s1 := restartBroker(t, server.RANDOM_PORT, dir)
	port := s1.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(s1.ClientURL(), nats.ReconnectWait(100*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	stop = func() {
		s1.Shutdown()
		s1.WaitForShutdown()
	}
	return nc, stop, func() { restartBroker(t, port, dir) }
}
