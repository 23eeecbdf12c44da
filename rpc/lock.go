package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/orch-fleet/orch/fleet"
)

// LockTTL is how long a run lock outlives its holder when the holder dies
// without releasing it; a live holder renews it at a third of this.
const LockTTL = 30 * time.Second

// LockHolder is what a run lock's value says.
type LockHolder struct {
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
}

// Lock takes the run lock name in the client's collective (see
// AcquireLock); it makes *Client an engine.Locker.
func (c *Client) Lock(ctx context.Context, name, holder string) (release func(), err error) {
	return AcquireLock(ctx, c.nc, c.o.Collective, name, holder)
}

// AcquireLock takes the run lock name in the collective's lock bucket (a
// JetStream key-value bucket whose entries expire after LockTTL) and keeps
// renewing it until release is called. If another run holds it, it fails
// at once naming the holder.
func AcquireLock(ctx context.Context, nc *nats.Conn, collective, name, holder string) (release func(), err error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening jetstream for the run lock: %w", err)
	}
	bucket := collective + "_locks"
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "orch run locks", History: 1, TTL: LockTTL, Storage: jetstream.MemoryStorage})
	if err != nil {
		return nil, fmt.Errorf("opening the lock bucket %s: %w", bucket, err)
	}
	key := KVKey(name)
	val, _ := json.Marshal(LockHolder{Holder: holder, Since: time.Now().UTC()})
	rev, err := kv.Create(ctx, key, val)
	if errors.Is(err, jetstream.ErrKeyExists) {
		var h LockHolder
		if e, gerr := kv.Get(ctx, key); gerr == nil {
			_ = json.Unmarshal(e.Value(), &h)
		}
		return nil, fmt.Errorf("%w: lock %q is held by %s since %s (it expires %s after its holder stops renewing it)",
			fleet.ErrLockHeld, name, h.Holder, h.Since.Local().Format(time.RFC3339), LockTTL)
	}
	if err != nil {
		return nil, fmt.Errorf("taking lock %q: %w", name, err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				dctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_ = kv.Delete(dctx, key, jetstream.LastRevision(rev))
				cancel()
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				if r, err := kv.Update(rctx, key, val, rev); err == nil {
					rev = r
				}
				cancel()
			}
		}
	}()
	return func() { close(stop); <-done }, nil
}
