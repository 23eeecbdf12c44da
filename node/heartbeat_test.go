package node_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// TestFailedHeartbeatIsRetried: a heartbeat the registry refuses (here a
// full bucket; in production a stream electing a new leader after a
// broker's loss) is tried again within a second or two, not at the next
// interval (an hour here), so a node keeps its registration through a
// broker failover.
func TestFailedHeartbeatIsRetried(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	// The registry bucket, full: one entry and no room for another.
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: rpc.RegistryBucket(rpc.DefaultCollective), History: 1, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "someone", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "KV_"+rpc.RegistryBucket(rpc.DefaultCollective))
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 1, jetstream.DiscardNew
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	_, pub := newKey(t)
	startNode(t, fmt.Sprintf(`
identity          = "web1"
servers           = [%q]
data_dir          = %q
register_interval = "1h"
registry_ttl      = "3h"
client "ops" { key = %q }
`, natstest.URL(s), filepath.Join(t.TempDir(), "data"), pub))
	time.Sleep(1500 * time.Millisecond) // the first heartbeat and a retry fail
	if _, err := kv.Get(ctx, fleet.EncodeIdentity("web1")); err == nil {
		t.Fatal("registered into a full bucket")
	}
	cfg.MaxMsgs = -1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := kv.Get(ctx, fleet.EncodeIdentity("web1")); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a failed heartbeat was not retried within 5s (interval 1h)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHeartbeatsFailingMoveToAnotherBroker: a node whose broker does not
// take its heartbeats (here a broker without JetStream; in a cluster, one
// still rejoining after a restart) reconnects to another of its brokers
// once they have failed for half the registry TTL, and registers there.
func TestHeartbeatsFailingMoveToAnotherBroker(t *testing.T) {
	noJS, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	noJS.Start()
	t.Cleanup(noJS.Shutdown)
	if !noJS.ReadyForConnections(10 * time.Second) {
		t.Fatal("broker not ready")
	}
	// The other broker, started once the node is on the first.
	port := freePort(t)
	_, pub := newKey(t)
	startNode(t, fmt.Sprintf(`
identity          = "web1"
servers           = [%q, "nats://127.0.0.1:%d"]
data_dir          = %q
register_interval = "1s"
registry_ttl      = "2s"
client "ops" { key = %q }
`, noJS.ClientURL(), port, filepath.Join(t.TempDir(), "data"), pub))
	eventually(t, 5*time.Second, "the node on the broker without JetStream", func() bool { return noJS.NumClients() == 1 })
	withJS, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	withJS.Start()
	t.Cleanup(withJS.Shutdown)
	if !withJS.ReadyForConnections(10 * time.Second) {
		t.Fatal("broker not ready")
	}
	nc, err := nats.Connect(withJS.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	eventually(t, 15*time.Second, "web1 registered through the other broker", func() bool {
		kv, err := js.KeyValue(context.Background(), rpc.RegistryBucket(rpc.DefaultCollective))
		if err != nil {
			return false
		}
		_, err = kv.Get(context.Background(), fleet.EncodeIdentity("web1"))
		return err == nil
	})
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
