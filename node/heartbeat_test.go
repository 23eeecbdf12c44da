package node_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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
