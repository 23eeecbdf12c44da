package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// lockFleet deletes the run lock behind the run's back during the first
// resource's call and holds the call until the engine says it stops.
type lockFleet struct {
	*fakeFleet
	kv   jetstream.KeyValue
	seen chan struct{}
}

func (f *lockFleet) Call(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	if r.Action == "first" {
		if err := f.kv.Delete(ctx, "deploy"); err != nil {
			return nil, err
		}
		select {
		case <-f.seen:
		case <-time.After(5 * time.Second):
		}
	}
	return f.fakeFleet.Call(ctx, r)
}

// TestLostLockStopsTheRun takes a real run lock on an embedded broker,
// deletes it while the first resource runs: the call in flight finishes,
// the next resource never starts, and the report says the lock was lost.
func TestLostLockStopsTheRun(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kp, _ := nkeys.CreateUser()
	locker := rpc.NewClient(nc, kp, rpc.ClientOptions{})
	stopping := make(chan struct{})
	var stops []engine.Event
	ctx := context.Background()
	// Opening the bucket the way the lock does, before the run.
	kv, err := rpc.EnsureBucket(ctx, nc, jetstream.KeyValueConfig{Bucket: rpc.LockBucket(rpc.DefaultCollective), History: 1, TTL: rpc.LockTTL})
	if err != nil {
		t.Fatal(err)
	}
	f := &lockFleet{fakeFleet: &fakeFleet{nodes: []string{"a1"}}, kv: kv, seen: stopping}
	cat := &catalog.Catalog{Lock: "deploy", Resources: []*catalog.Resource{res("first", []string{"a1"}), res("second", []string{"a1"}, "t.first")}}
	rep, err := engine.Run(ctx, cat, reg(), f, engine.Options{Locker: locker, LockHolder: "test", Events: func(e engine.Event) {
		if e.Type == engine.EventRunStop {
			stops = append(stops, e)
			close(stopping)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != engine.OutcomeFailed || !strings.HasPrefix(rep.StopReason, `lost the run lock "deploy"`) {
		t.Fatalf("outcome %s, stop reason %q", rep.Outcome, rep.StopReason)
	}
	if got := outcomes(rep); got != "t.first=ok t.second=skipped" {
		t.Fatalf("outcomes %s", got)
	}
	if len(stops) != 1 || !strings.Contains(stops[0].Message, "starting nothing new") {
		t.Fatalf("run_stop events %+v", stops)
	}
	if r := rep.Resources[1].Reason; !strings.Contains(r, "skipped: lost the run lock") {
		t.Fatalf("second's reason %q", r)
	}
}

// releaseFails is a Locker whose release fails, and records when it ran.
type releaseFails struct{ released []string }

func (l *releaseFails) Lock(_ context.Context, name, _ string) (func() error, <-chan error, error) {
	return func() error {
		l.released = append(l.released, name)
		return errors.New(`could not release the run lock "deploy"`)
	}, nil, nil
}

// A lock the run could not release is reported, once, before run_end; the
// run's outcome stays what the fleet made it.
func TestLockReleaseFailureIsReported(t *testing.T) {
	locker := &releaseFails{}
	f := &fakeFleet{nodes: []string{"a1"}}
	cat := &catalog.Catalog{Lock: "deploy", Resources: []*catalog.Resource{res("first", []string{"a1"})}}
	var releasedAtEnd int
	rep, err := engine.Run(context.Background(), cat, reg(), f, engine.Options{Locker: locker, Events: func(e engine.Event) {
		if e.Type == engine.EventRunEnd {
			releasedAtEnd = len(locker.released)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != engine.OutcomeOK || !strings.Contains(rep.LockRelease, "could not release") {
		t.Fatalf("outcome %s, lock release %q", rep.Outcome, rep.LockRelease)
	}
	if len(locker.released) != 1 || releasedAtEnd != 1 {
		t.Fatalf("released %d times, %d before run_end", len(locker.released), releasedAtEnd)
	}
}
