package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/fleet"
)

// ErrIdentityInUse is wrapped by IdentityInUse's error when another live
// agent serves the identity.
var ErrIdentityInUse = errors.New("identity in use")

// ErrRegistrationTaken is wrapped by Registrar.Register's error when the
// node's registry entry was written by another agent instance.
var ErrRegistrationTaken = errors.New("registration written by another agent")

// IdentityInUse probes identity's direct subject (a liveness probe,
// ProbeHeader) before a node subscribes to it: nil when nobody is
// subscribed ("no responders"), an error wrapping ErrIdentityInUse when
// another agent answers, or when it stays silent while the registry holds
// a live entry of another instance for the identity (a hung agent).
func IdentityInUse(ctx context.Context, nc *nats.Conn, collective, identity string) error {
	subject := DirectSubject(collective, identity)
	msg := nats.NewMsg(subject)
	msg.Header.Set(ProbeHeader, "1")
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := nc.RequestMsgWithContext(pctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil
	case err == nil:
		return fmt.Errorf("%w: another agent answers on %s (identity %q)", ErrIdentityInUse, subject, identity)
	case ctx.Err() != nil:
		return fmt.Errorf("probing %s: %w", subject, ctx.Err())
	}
	// Silent: a hung agent, or a broker that does not let this node
	// publish to its own subject. The registry tells them apart.
	kv, kerr := registryBucket(ctx, nc, collective, 0, false)
	if kerr != nil {
		return nil
	}
	if e, gerr := kv.Get(ctx, fleet.EncodeIdentity(identity)); gerr == nil {
		return fmt.Errorf("%w: %s is subscribed but does not answer probes, and the registry lists it (registered %s): another agent hung?",
			ErrIdentityInUse, subject, e.Created().UTC().Format(time.RFC3339))
	}
	return nil
}

// Registrar writes registry entries for one node or for many (the
// emulator): the bucket handles are opened once and kept between
// heartbeats (re-opened after a failure), and each identity's entry is
// written with a compare-and-set on the revision written last, so that a
// write by another agent under the same identity is noticed
// (ErrRegistrationTaken). It removes only entries of the given instance.
// Safe for concurrent use.
type Registrar struct {
	nc         *nats.Conn
	collective string
	ttl        time.Duration

	mu         sync.Mutex
	live, seen jetstream.KeyValue // nil until opened, and after a failure
	revs       map[string]uint64  // encoded identity -> registry revision written last
}

// NewRegistrar returns a registrar for collective whose entries expire
// after ttl (0 = DefaultRegistryTTL) when it creates the bucket.
func NewRegistrar(nc *nats.Conn, collective string, ttl time.Duration) *Registrar {
	return &Registrar{nc: nc, collective: collective, ttl: ttl, revs: map[string]uint64{}}
}

// buckets returns the bucket handles, opening (and creating) them when
// needed. r.mu is held.
func (r *Registrar) buckets(ctx context.Context) (live, seen jetstream.KeyValue, err error) {
	if r.live == nil {
		if r.live, err = registryBucket(ctx, r.nc, r.collective, r.ttl, true); err != nil {
			return nil, nil, err
		}
	}
	if r.seen == nil {
		if r.seen, err = lastSeenBucket(ctx, r.nc, r.collective, true); err != nil {
			return nil, nil, err
		}
	}
	return r.live, r.seen, nil
}

// Register writes info to the registry and last-seen buckets (live entry
// first: a reader that reads last seen first, then live, never takes a
// node that is registering for a missing one). When the entry was
// rewritten by another instance since this registrar last wrote it, it is
// written again and the error wraps ErrRegistrationTaken, naming the other
// instance.
func (r *Registrar) Register(ctx context.Context, info fleet.NodeInfo) error {
	info.Registered = time.Now().UTC()
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding registry entry: %w", err)
	}
	key := fleet.EncodeIdentity(info.Identity)
	r.mu.Lock()
	defer r.mu.Unlock()
	kv, seen, err := r.buckets(ctx)
	if err != nil {
		return err
	}
	taken, err := r.put(ctx, kv, key, b, info)
	if err != nil {
		r.live, r.seen = nil, nil // re-opened next time
		return err
	}
	if err := putSeen(ctx, seen, key, b, info.Identity); err != nil {
		r.live, r.seen = nil, nil
		return errors.Join(taken, err)
	}
	return taken
}

// put writes the live entry, on the revision written last when there is
// one; taken says that another instance had written it meanwhile.
func (r *Registrar) put(ctx context.Context, kv jetstream.KeyValue, key string, b []byte, info fleet.NodeInfo) (taken, err error) {
	if rev := r.revs[key]; rev != 0 {
		if next, err := kv.Update(ctx, key, b, rev); err == nil {
			r.revs[key] = next
			return nil, nil
		}
		if other, ok := entryOf(ctx, kv, key); ok && other.Instance != info.Instance {
			taken = fmt.Errorf("%w: identity %q was registered by agent instance %q (started %s)",
				ErrRegistrationTaken, info.Identity, other.Instance, other.Started.Format(time.RFC3339))
		}
	}
	rev, err := kv.Put(ctx, key, b)
	if err != nil {
		return taken, fmt.Errorf("registering %s: %w", info.Identity, err)
	}
	r.revs[key] = rev
	return taken, nil
}

func putSeen(ctx context.Context, seen jetstream.KeyValue, key string, b []byte, identity string) error {
	if _, err := seen.Put(ctx, key, b); err != nil {
		return fmt.Errorf("registering %s (last seen): %w", identity, err)
	}
	return nil
}

// entryOf reads and decodes the entry under key.
func entryOf(ctx context.Context, kv jetstream.KeyValue, key string) (fleet.NodeInfo, bool) {
	e, err := kv.Get(ctx, key)
	if err != nil {
		return fleet.NodeInfo{}, false
	}
	return decodeInfo(key, e.Value())
}

// Deregister removes the last-seen and registry entries of identity (a
// node that stops gracefully leaves no tombstone) if they are of instance;
// an entry written by another agent is left alone (and reported by the
// error).
func (r *Registrar) Deregister(ctx context.Context, identity, instance string) error {
	key := fleet.EncodeIdentity(identity)
	r.mu.Lock()
	delete(r.revs, key)
	r.mu.Unlock()
	var errs []error
	for _, open := range []func() (jetstream.KeyValue, error){
		func() (jetstream.KeyValue, error) { return lastSeenBucket(ctx, r.nc, r.collective, false) },
		func() (jetstream.KeyValue, error) { return registryBucket(ctx, r.nc, r.collective, 0, false) },
	} {
		kv, err := open()
		if errors.Is(err, errNoRegistry) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, purgeOwn(ctx, kv, key, identity, instance))
	}
	return errors.Join(errs...)
}

// purgeOwn purges key from kv when its entry is of instance, on the very
// revision read.
func purgeOwn(ctx context.Context, kv jetstream.KeyValue, key, identity, instance string) error {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil
	} else if err != nil {
		return fmt.Errorf("deregistering %s: %w", identity, err)
	}
	if info, ok := decodeInfo(key, e.Value()); !ok || info.Instance != instance {
		return fmt.Errorf("%w: the entry of %q in %s belongs to agent instance %q: left in place", ErrRegistrationTaken, identity, kv.Bucket(), info.Instance)
	}
	if err := kv.Purge(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return fmt.Errorf("deregistering %s: %w", identity, err)
	}
	return nil
}
