//go:build chaos

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/rpc"
)

// lockWatch follows every change of the run-lock bucket for the whole
// suite and records a violation whenever a lock changes holder while the
// previous holder's entry was still alive: neither deleted nor expired
// (LockTTL after its last renewal).
type lockWatch struct {
	mu         sync.Mutex
	holder     map[string]string    // key -> current holder
	renewed    map[string]time.Time // key -> last write by that holder
	takes      int                  // times a lock was taken
	violations []string
	stop       func()
}

// watchLocks starts watching the lock bucket (which must exist).
func (f *chaosFleet) watchLocks() (*lockWatch, error) {
	ctx, cancel := context.WithCancel(context.Background())
	kv, err := f.js.KeyValue(ctx, rpc.LockBucket("orch"))
	if err != nil {
		cancel()
		return nil, err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	lw := &lockWatch{holder: map[string]string{}, renewed: map[string]time.Time{}}
	done := make(chan struct{})
	lw.stop = func() {
		cancel()
		_ = w.Stop()
		<-done
	}
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e != nil {
				lw.see(e)
			}
		}
	}()
	return lw, nil
}

// see records one change of the bucket.
func (lw *lockWatch) see(e jetstream.KeyValueEntry) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	key, now := e.Key(), time.Now()
	if e.Operation() != jetstream.KeyValuePut {
		delete(lw.holder, key)
		return
	}
	var h rpc.LockHolder
	_ = json.Unmarshal(e.Value(), &h)
	prev, held := lw.holder[key]
	switch {
	case !held || prev != h.Holder && now.Sub(lw.renewed[key]) >= rpc.LockTTL:
		lw.takes++
	case prev != h.Holder:
		lw.violations = append(lw.violations, fmt.Sprintf("lock %s taken by %q while %q held it (renewed %s before)",
			key, h.Holder, prev, now.Sub(lw.renewed[key]).Round(time.Millisecond)))
	}
	lw.holder[key], lw.renewed[key] = h.Holder, now
}

// report returns how many times a lock was taken and the violations.
func (lw *lockWatch) report() (int, []string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.takes, append([]string(nil), lw.violations...)
}
