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
// (LockTTL after its last renewal, by the broker's timestamps). A watch
// that fell behind (its broker killed) can skip revisions — the bucket
// keeps one per key — and then cannot judge the change it skipped: such
// gaps are counted, not judged (the runs' own walks are still checked).
type lockWatch struct {
	mu         sync.Mutex
	holder     map[string]string    // key -> current holder
	renewed    map[string]time.Time // key -> last write by that holder
	rev        uint64               // the bucket's last revision seen
	takes      int                  // times a lock was taken
	gaps       int                  // changes of holder across skipped revisions
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
	key, now := e.Key(), e.Created()
	skipped := lw.rev != 0 && e.Revision() > lw.rev+1
	lw.rev = e.Revision()
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
	case prev != h.Holder && skipped:
		lw.takes++
		lw.gaps++
	case prev != h.Holder:
		lw.violations = append(lw.violations, fmt.Sprintf("lock %s taken by %q while %q held it (renewed %s before)",
			key, h.Holder, prev, now.Sub(lw.renewed[key]).Round(time.Millisecond)))
	}
	lw.holder[key], lw.renewed[key] = h.Holder, now
}

// report returns how many times a lock was taken, how many of those
// across skipped revisions, and the violations.
func (lw *lockWatch) report() (takes, gaps int, violations []string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.takes, lw.gaps, append([]string(nil), lw.violations...)
}
