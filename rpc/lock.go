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

// lockRetry is how often a holder retries a renewal that failed for want
// of a broker, until LockTTL after the last good one.
const lockRetry = time.Second

// LockReleaseWait bounds how long Release keeps trying to remove the lock
// while the broker holding its bucket fails over; a lock it could not
// remove expires LockTTL after its last renewal.
const LockReleaseWait = 10 * time.Second

// LockHolder is what a run lock's value says.
type LockHolder struct {
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
}

// Lock takes the run lock name in the client's collective (see
// AcquireRunLock); it makes *Client an engine.Locker. lost yields why the
// lock was lost, if it is lost before release.
func (c *Client) Lock(ctx context.Context, name, holder string) (release func() error, lost <-chan error, err error) {
	l, err := AcquireRunLock(ctx, c.nc, c.o.Collective, name, holder)
	if err != nil {
		return nil, nil, err
	}
	return l.Release, l.Lost(), nil
}

// AcquireLock is AcquireRunLock for callers that do not watch for the
// lock's loss.
func AcquireLock(ctx context.Context, nc *nats.Conn, collective, name, holder string) (release func() error, err error) {
	l, err := AcquireRunLock(ctx, nc, collective, name, holder)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// RunLock is a held run lock, renewed until Release.
type RunLock struct {
	name string
	kv   jetstream.KeyValue
	key  string
	val  []byte
	rev  uint64
	lost chan error
	stop chan struct{}
	done chan struct{}
	// released is Release's result, set before done is closed.
	released error
	// releaseWait bounds Release's retries (LockReleaseWait).
	releaseWait time.Duration
}

// AcquireRunLock takes the run lock name in the collective's lock bucket
// (LockBucket: entries expire after LockTTL; see EnsureBucket for its
// storage and replicas) and keeps renewing it until Release. If another
// run holds it, it fails at once naming the holder, wrapping
// fleet.ErrLockHeld.
func AcquireRunLock(ctx context.Context, nc *nats.Conn, collective, name, holder string) (*RunLock, error) {
	return acquireRunLock(ctx, nc, collective, name, holder, LockTTL/3)
}

// LockTakeWait bounds how long taking a run lock keeps trying while its
// bucket does not answer (its stream electing a leader after a broker's
// loss takes seconds); a bucket that answers "held" fails at once.
const LockTakeWait = 15 * time.Second

// acquireRunLock is AcquireRunLock renewing every interval.
func acquireRunLock(ctx context.Context, nc *nats.Conn, collective, name, holder string, interval time.Duration) (*RunLock, error) {
	deadline := time.Now().Add(LockTakeWait)
	kv, err := retryUnanswered(ctx, deadline, func(ctx context.Context) (jetstream.KeyValue, error) {
		return EnsureBucket(ctx, nc, jetstream.KeyValueConfig{Bucket: LockBucket(collective), Description: "orch run locks", History: 1, TTL: LockTTL})
	})
	if err != nil {
		return nil, fmt.Errorf("opening the lock bucket: %w", err)
	}
	l := &RunLock{name: name, kv: kv, key: KVKey(name), lost: make(chan error, 1), stop: make(chan struct{}), done: make(chan struct{}), releaseWait: LockReleaseWait}
	l.val, _ = json.Marshal(LockHolder{Holder: holder, Since: time.Now().UTC()})
	retried := false
	l.rev, err = retryUnanswered(ctx, deadline, func(ctx context.Context) (uint64, error) {
		rev, err := kv.Create(ctx, l.key, l.val)
		if errors.Is(err, jetstream.ErrKeyExists) && retried && l.adopt() {
			return l.rev, nil // an earlier attempt landed, its answer lost
		}
		retried = true
		return rev, err
	})
	if errors.Is(err, jetstream.ErrKeyExists) {
		var h LockHolder
		if e, gerr := kv.Get(ctx, l.key); gerr == nil {
			_ = json.Unmarshal(e.Value(), &h)
		}
		return nil, fmt.Errorf("%w: lock %q is held by %s since %s (it expires %s after its holder stops renewing it)",
			fleet.ErrLockHeld, name, h.Holder, h.Since.Local().Format(time.RFC3339), LockTTL)
	}
	if err != nil {
		return nil, fmt.Errorf("taking lock %q: %w", name, err)
	}
	// Watching the entry tells at once when it is deleted or taken over.
	w, err := kv.Watch(ctx, l.key, jetstream.UpdatesOnly())
	if err != nil {
		_ = kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
		return nil, fmt.Errorf("watching lock %q: %w", name, err)
	}
	go l.renew(w, interval, time.Now())
	return l, nil
}

// retryUnanswered calls op, each attempt bounded to a few seconds, until
// it succeeds, fails with an answer, ctx ends or deadline passes: an
// attempt that got no answer (a timeout, no responders, no response from
// the stream) is what a broker failing over looks like.
func retryUnanswered[T any](ctx context.Context, deadline time.Time, op func(context.Context) (T, error)) (T, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		v, err := op(actx)
		cancel()
		if err == nil || !unanswered(err) || ctx.Err() != nil || time.Now().After(deadline) {
			if err != nil && unanswered(err) && ctx.Err() == nil {
				err = fmt.Errorf("no answer for %s (a broker failing over, or JetStream unavailable): %w", LockTakeWait, err)
			}
			return v, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(lockRetry / 4):
		}
	}
}

// unanswered reports whether err says a JetStream request got no answer.
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// Lost yields, once, why the lock was lost: its entry changed behind its
// back (deleted, taken over) or it could not be renewed for LockTTL. It
// yields nothing while the lock is held and after Release.
func (l *RunLock) Lost() <-chan error { return l.lost }

// remove deletes the entry if it is still this lock's, retrying for up
// to LockReleaseWait while the bucket cannot be written (its stream
// electing a leader after a broker's loss): a run that ended must not
// leave the next one refused for LockTTL.
func (l *RunLock) remove() error {
	deadline := time.Now().Add(l.releaseWait)
	for {
		err := l.deleteIfOurs()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not release the run lock %q for %s: %w; it expires %s after its last renewal", l.name, l.releaseWait, err, LockTTL)
		}
		time.Sleep(lockRetry / 4)
	}
}

// deleteIfOurs deletes the entry on this lock's last revision. When that
// is refused it reads the entry: gone, or holding another run's value,
// leaves nothing to release; holding this lock's value at a newer
// revision (a renewal landed whose answer was lost) is deleted on that.
func (l *RunLock) deleteIfOurs() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	derr := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	if derr == nil {
		return nil
	}
	e, err := l.kv.Get(ctx, l.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case err != nil:
		return derr
	case e.Operation() != jetstream.KeyValuePut || string(e.Value()) != string(l.val):
		return nil
	}
	l.rev = e.Revision()
	return l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
}

// adopt reads the entry after a renewal was refused for its revision:
// when it still holds this lock's value, a renewal whose answer was lost
// had landed; its revision becomes the one to renew on.
func (l *RunLock) adopt() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	e, err := l.kv.Get(ctx, l.key)
	if err != nil || e.Operation() != jetstream.KeyValuePut || string(e.Value()) != string(l.val) {
		return false
	}
	l.rev = e.Revision()
	return true
}

// Release stops renewing the lock and deletes it (if still ours). It
// fails when the entry could not be removed within LockReleaseWait (the
// lock then expires LockTTL after its last renewal); a lock already lost
// has nothing to release. Calling it again returns the same result.
func (l *RunLock) Release() error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	return l.released
}

// renew renews the lock every interval until Release, retrying failed
// renewals every lockRetry, and watches its entry (w); it reports the loss
// on l.lost.
func (l *RunLock) renew(w jetstream.KeyWatcher, interval time.Duration, renewed time.Time) {
	defer close(l.done)
	defer func() { _ = w.Stop() }()
	t := time.NewTimer(interval)
	defer t.Stop()
	updates := w.Updates()
	for {
		select {
		case <-l.stop:
			l.released = l.remove()
			return
		case e, ok := <-updates:
			if !ok {
				updates = nil // renewals still tell
				continue
			}
			if e != nil && (e.Operation() != jetstream.KeyValuePut || string(e.Value()) != string(l.val)) {
				l.lost <- fmt.Errorf("lost the run lock %q: its entry was deleted or taken over by another run", l.name)
				return
			}
			continue
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r, err := l.kv.Update(ctx, l.key, l.val, l.rev)
		cancel()
		switch {
		case err == nil:
			l.rev, renewed = r, time.Now()
			t.Reset(interval)
		case errors.Is(err, jetstream.ErrKeyExists) && l.adopt():
			// An earlier renewal landed although its answer was lost (a
			// broker failing over): the entry is still ours.
			renewed = time.Now()
			t.Reset(interval)
		case errors.Is(err, jetstream.ErrKeyExists):
			l.lost <- fmt.Errorf("lost the run lock %q: its entry was deleted or taken over by another run", l.name)
			return
		case time.Since(renewed) >= LockTTL:
			l.lost <- fmt.Errorf("lost the run lock %q: it could not be renewed for %s (last error: %v)", l.name, LockTTL, err)
			return
		default:
			t.Reset(lockRetry)
		}
	}
}
