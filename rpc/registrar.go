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

// Registrar keeps one agent instance's registration: it writes the
// node's entry with a compare-and-set on the revision it wrote last, so
// that a write by another agent under the same identity is noticed
// (ErrRegistrationTaken), and it removes only an entry of its own
// instance. Safe for concurrent use.
type Registrar struct {
	nc  *nats.Conn
	ttl time.Duration

	mu  sync.Mutex
	rev uint64 // the registry revision written last; 0 = none
}

// NewRegistrar returns a registrar whose entries expire after ttl (0 =
// DefaultRegistryTTL) when the bucket is created.
func NewRegistrar(nc *nats.Conn, ttl time.Duration) *Registrar {
	return &Registrar{nc: nc, ttl: ttl}
}

// Register writes info (whose Instance must be set) to the registry and
// last-seen buckets. When the entry was rewritten by another instance
// since this one last wrote it, it is written again and the error wraps
// ErrRegistrationTaken, naming the other instance.
func (r *Registrar) Register(ctx context.Context, info fleet.NodeInfo) error {
	kv, err := registryBucket(ctx, r.nc, info.Collective, r.ttl, true)
	if err != nil {
		return err
	}
	seen, err := lastSeenBucket(ctx, r.nc, info.Collective, true)
	if err != nil {
		return err
	}
	info.Registered = time.Now().UTC()
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding registry entry: %w", err)
	}
	key := fleet.EncodeIdentity(info.Identity)
	r.mu.Lock()
	defer r.mu.Unlock()
	var taken error
	if r.rev != 0 {
		rev, err := kv.Update(ctx, key, b, r.rev)
		if err == nil {
			r.rev = rev
			return putSeen(ctx, seen, key, b, info.Identity)
		}
		if other, ok := entryOf(ctx, kv, key); ok && other.Instance != info.Instance {
			taken = fmt.Errorf("%w: identity %q was registered by agent instance %q (started %s)",
				ErrRegistrationTaken, info.Identity, other.Instance, other.Started.Format(time.RFC3339))
		}
	}
	rev, err := kv.Put(ctx, key, b)
	if err != nil {
		return fmt.Errorf("registering %s: %w", info.Identity, err)
	}
	r.rev = rev
	return errors.Join(taken, putSeen(ctx, seen, key, b, info.Identity))
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

// Deregister removes the registry and last-seen entries of identity if
// they are this instance's; an entry written by another agent is left
// alone (and reported by the error).
func (r *Registrar) Deregister(ctx context.Context, collective, identity, instance string) error {
	key := fleet.EncodeIdentity(identity)
	var errs []error
	for _, open := range []func() (jetstream.KeyValue, error){
		func() (jetstream.KeyValue, error) { return lastSeenBucket(ctx, r.nc, collective, false) },
		func() (jetstream.KeyValue, error) { return registryBucket(ctx, r.nc, collective, 0, false) },
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
