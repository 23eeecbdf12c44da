package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/fleet"
)

// Registrar writes registry entries with bucket handles opened once: a
// long-running node (or an emulator of many) keeps one and heartbeats
// through it, instead of opening both buckets (a stream-info round trip
// each) at every heartbeat as Register does.
type Registrar struct {
	live, seen jetstream.KeyValue
}

// NewRegistrar opens the registry and last-seen buckets of collective,
// creating them when they do not exist (registry entries expire after
// ttl; 0 = DefaultRegistryTTL).
func NewRegistrar(ctx context.Context, nc *nats.Conn, collective string, ttl time.Duration) (*Registrar, error) {
	live, err := registryBucket(ctx, nc, collective, ttl, true)
	if err != nil {
		return nil, err
	}
	seen, err := lastSeenBucket(ctx, nc, collective, true)
	if err != nil {
		return nil, err
	}
	return &Registrar{live: live, seen: seen}, nil
}

// Register writes info into the registry and the last-seen bucket.
func (r *Registrar) Register(ctx context.Context, info fleet.NodeInfo) error {
	info.Registered = time.Now().UTC()
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding registry entry: %w", err)
	}
	// Live entry first, then last seen: a reader that reads last seen
	// first, then live (discoverRegistry) never takes a node that is
	// registering for a missing one.
	if _, err := r.live.Put(ctx, info.Identity, b); err != nil {
		return fmt.Errorf("registering %s: %w", info.Identity, err)
	}
	if _, err := r.seen.Put(ctx, info.Identity, b); err != nil {
		return fmt.Errorf("registering %s (last seen): %w", info.Identity, err)
	}
	return nil
}

// Deregister removes identity from the registry and its last-seen entry
// with it: a node that stops gracefully leaves no tombstone.
func (r *Registrar) Deregister(ctx context.Context, identity string) error {
	if err := r.seen.Purge(ctx, identity); err != nil {
		return fmt.Errorf("deregistering %s (last seen): %w", identity, err)
	}
	if err := r.live.Purge(ctx, identity); err != nil {
		return fmt.Errorf("deregistering %s: %w", identity, err)
	}
	return nil
}
