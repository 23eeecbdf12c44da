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

// DefaultRegistryTTL is how long a registry entry lives without being
// renewed; nodes re-register at a third of it.
const DefaultRegistryTTL = 30 * time.Second

var errNoRegistry = errors.New("no registry bucket")

// registryBucket opens the registry bucket of collective, creating it with
// ttl when create is set.
func registryBucket(ctx context.Context, nc *nats.Conn, collective string, ttl time.Duration, create bool) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening jetstream: %w", err)
	}
	name := RegistryBucket(collective)
	kv, err := js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrJetStreamNotEnabled) {
			return nil, fmt.Errorf("%w: the broker has no JetStream", errNoRegistry)
		}
		return nil, fmt.Errorf("opening registry bucket %s: %w", name, err)
	}
	if !create {
		return nil, fmt.Errorf("%w %s", errNoRegistry, name)
	}
	if ttl <= 0 {
		ttl = DefaultRegistryTTL
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, Description: "orch node registry", History: 1, TTL: ttl,
		Storage: jetstream.MemoryStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("creating registry bucket %s: %w", name, err)
	}
	return kv, nil
}

// Register writes info into the collective's registry bucket, creating the
// bucket (entries expire after ttl) when it does not exist yet.
func Register(ctx context.Context, nc *nats.Conn, info fleet.NodeInfo, ttl time.Duration) error {
	kv, err := registryBucket(ctx, nc, info.Collective, ttl, true)
	if err != nil {
		return err
	}
	info.Registered = time.Now().UTC()
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding registry entry: %w", err)
	}
	if _, err := kv.Put(ctx, info.Identity, b); err != nil {
		return fmt.Errorf("registering %s: %w", info.Identity, err)
	}
	return nil
}

// Deregister removes identity from the registry.
func Deregister(ctx context.Context, nc *nats.Conn, collective, identity string) error {
	kv, err := registryBucket(ctx, nc, collective, 0, false)
	if err != nil {
		return err
	}
	if err := kv.Purge(ctx, identity); err != nil {
		return fmt.Errorf("deregistering %s: %w", identity, err)
	}
	return nil
}

// discoverRegistry reads every entry of the registry in one pass (a watch
// that delivers the current values, then stops) and keeps those f selects.
func (c *Client) discoverRegistry(ctx context.Context, f fleet.Filter, mustExist bool) ([]fleet.NodeInfo, error) {
	kv, err := registryBucket(ctx, c.nc, c.o.Collective, 0, false)
	if err != nil {
		if mustExist || !errors.Is(err, errNoRegistry) {
			return nil, fmt.Errorf("discovering from the registry: %w", err)
		}
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("reading the registry: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var nodes []fleet.NodeInfo
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("reading the registry: watch closed")
			}
			if e == nil {
				return nodes, nil
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var info fleet.NodeInfo
			if err := json.Unmarshal(e.Value(), &info); err != nil {
				continue
			}
			if f.Match(&info) {
				nodes = append(nodes, info)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("reading the registry: %w", ctx.Err())
		}
	}
}

// Connect connects to the brokers (any of servers), reconnecting forever
// when the connection drops. opts are added after orch's defaults (for
// broker credentials).
func Connect(ctx context.Context, servers []string, name string, opts ...nats.Option) (*nats.Conn, error) {
	if len(servers) == 0 {
		servers = []string{nats.DefaultURL}
	}
	all := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(false),
		nats.Timeout(5 * time.Second),
	}, opts...)
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(joinURLs(servers), all...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", joinURLs(servers), r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to %s: %w", joinURLs(servers), ctx.Err())
	}
}

func joinURLs(servers []string) string {
	s := ""
	for i, u := range servers {
		if i > 0 {
			s += ","
		}
		s += u
	}
	return s
}

// KVKey turns any name into a valid key of a JetStream key-value bucket:
// characters other than letters, digits, '-', '_' and '=' become '_', as
// does a '.' at either end (dots inside are kept: they separate tokens).
func KVKey(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c == '-' || c == '_' || c == '=' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '.' && i > 0 && i < len(b)-1
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}
