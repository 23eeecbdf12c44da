package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/orch-fleet/orch/fleet"
)

// DefaultRegistryTTL is how long a registry entry lives without being
// renewed; nodes re-register at a third of it.
const DefaultRegistryTTL = 30 * time.Second

// TombstoneWindow is how long a node that left the registry without
// stopping gracefully (its entry expired) is still reported as missing:
// the entries of the last-seen bucket live this long after the node's last
// heartbeat.
const TombstoneWindow = time.Hour

var errNoRegistry = errors.New("no registry bucket")

// registryBucket opens the registry bucket of collective, creating it with
// ttl when create is set (see EnsureBucket for its storage and replicas).
func registryBucket(ctx context.Context, nc *nats.Conn, collective string, ttl time.Duration, create bool) (jetstream.KeyValue, error) {
	name := RegistryBucket(collective)
	if create {
		if ttl <= 0 {
			ttl = DefaultRegistryTTL
		}
		return EnsureBucket(ctx, nc, jetstream.KeyValueConfig{Bucket: name, Description: "orch node registry", History: 1, TTL: ttl})
	}
	return openBucket(ctx, nc, name)
}

// lastSeenBucket opens the last-seen bucket of collective, creating it
// when create is set. A node writes its entry there at every heartbeat
// and removes it only when it stops gracefully; entries expire
// TombstoneWindow after the last heartbeat.
func lastSeenBucket(ctx context.Context, nc *nats.Conn, collective string, create bool) (jetstream.KeyValue, error) {
	name := LastSeenBucket(collective)
	if create {
		return EnsureBucket(ctx, nc, jetstream.KeyValueConfig{Bucket: name, Description: "orch nodes' last heartbeat (tombstones)", History: 1, TTL: TombstoneWindow})
	}
	return openBucket(ctx, nc, name)
}

// openBucket opens an existing bucket; a missing bucket or a broker
// without JetStream wraps errNoRegistry.
func openBucket(ctx context.Context, nc *nats.Conn, name string) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening jetstream: %w", err)
	}
	kv, err := js.KeyValue(ctx, name)
	switch {
	case err == nil:
		return kv, nil
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, fmt.Errorf("%w %s", errNoRegistry, name)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrJetStreamNotEnabled):
		return nil, fmt.Errorf("%w: the broker has no JetStream", errNoRegistry)
	}
	return nil, fmt.Errorf("opening bucket %s: %w", name, err)
}

// Register writes info into the collective's registry bucket and its
// last-seen bucket, creating them when they do not exist yet (registry
// entries expire after ttl). It opens both buckets at every call: a process
// that registers repeatedly keeps a Registrar instead.
func Register(ctx context.Context, nc *nats.Conn, info fleet.NodeInfo, ttl time.Duration) error {
	return NewRegistrar(nc, info.Collective, ttl).Register(ctx, info)
}

// Deregister removes identity from the registry, and its last-seen entry
// with it: a node that stops gracefully leaves no tombstone.
func Deregister(ctx context.Context, nc *nats.Conn, collective, identity string) error {
	key := fleet.EncodeIdentity(identity)
	if seen, err := lastSeenBucket(ctx, nc, collective, false); err == nil {
		if err := seen.Purge(ctx, key); err != nil {
			return fmt.Errorf("deregistering %s (last seen): %w", identity, err)
		}
	} else if !errors.Is(err, errNoRegistry) {
		return err
	}
	kv, err := registryBucket(ctx, nc, collective, 0, false)
	if err != nil {
		return err
	}
	if err := kv.Purge(ctx, key); err != nil {
		return fmt.Errorf("deregistering %s: %w", identity, err)
	}
	return nil
}

// discoverRegistry reads the last-seen bucket, then the whole registry, and
// keeps the nodes f selects: those registered, and those last seen but no
// longer registered (missing). A registry that cannot be read within
// o.Timeout counts as unreachable. Reading last seen first means a node that
// registers meanwhile (live entry first) is never taken for a missing one.
func (c *Client) discoverRegistry(ctx context.Context, f fleet.Filter, o DiscoverOptions, mustExist bool) (*Discovery, error) {
	if rc := c.registryCache(); rc != nil {
		return c.discoverCached(ctx, rc, f, o)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	js, err := jetstream.New(c.nc)
	if err != nil {
		return nil, fmt.Errorf("opening jetstream: %w", err)
	}
	seen, err := readBucket(ctx, js, LastSeenBucket(c.o.Collective), true)
	if err != nil && !errors.Is(err, errNoRegistry) {
		return nil, fmt.Errorf("discovering from the registry: %w", err)
	}
	live, err := readBucket(ctx, js, RegistryBucket(c.o.Collective), false)
	if err != nil {
		if mustExist || !errors.Is(err, errNoRegistry) {
			return nil, fmt.Errorf("discovering from the registry: %w", err)
		}
		return nil, err
	}
	d := &Discovery{Method: DiscoverRegistry, Nodes: c.decodeMatching(live, f)}
	if d.Missing, err = missingNodes(ctx, js, LastSeenBucket(c.o.Collective), seen, live, f); err != nil {
		return nil, fmt.Errorf("discovering from the registry: %w", err)
	}
	return d, nil
}

// missingNodes are the nodes f selects that are in seen (the last-seen
// bucket, read without values) but not in live: it reads what each last
// said about itself.
func missingNodes(ctx context.Context, js jetstream.JetStream, bucket string, seen, live map[string]bucketEntry, f fleet.Filter) ([]fleet.MissingNode, error) {
	var kv jetstream.KeyValue
	var missing []fleet.MissingNode
	for id, e := range seen {
		if _, ok := live[id]; ok {
			continue
		}
		if kv == nil {
			var err error
			if kv, err = js.KeyValue(ctx, bucket); err != nil {
				return nil, fmt.Errorf("opening bucket %s: %w", bucket, err)
			}
		}
		v, err := kv.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // it stopped gracefully meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("reading the last heartbeat of %s: %w", id, err)
		}
		if info, ok := decodeInfo(id, v.Value()); ok && f.Match(&info) {
			missing = append(missing, fleet.MissingNode{NodeInfo: info, LastSeen: e.created.UTC()})
		}
	}
	return missing, nil
}

// decodeMatching decodes the entries on every CPU (decoding is most of a
// large registry's read) and keeps those f selects.
func (c *Client) decodeMatching(entries map[string]bucketEntry, f fleet.Filter) []fleet.NodeInfo {
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(keys)/256)
	parts := make([][]fleet.NodeInfo, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(keys); i += workers {
				info, ok := decodeInfo(keys[i], entries[keys[i]].value)
				if !ok {
					continue
				}
				c.keys.learn(info.Identity, info.PublicKey, keyFromRegistry)
				if f.Match(&info) {
					parts[w] = append(parts[w], info)
				}
			}
		})
	}
	wg.Wait()
	return slices.Concat(parts...)
}

// decodeInfo decodes the registry entry under key; entries that are not
// JSON node information, or that name another identity than their key
// (a node may write only its own key: it cannot pass for another), are
// skipped.
func decodeInfo(key string, b []byte) (fleet.NodeInfo, bool) {
	var info fleet.NodeInfo
	if err := json.Unmarshal(b, &info); err != nil || info.Identity == "" || fleet.EncodeIdentity(info.Identity) != key {
		return info, false
	}
	return info, true
}

// stallCheck is how long readBucket waits for the next entry before
// asking the stream whether anything is left to deliver.
const stallCheck = 50 * time.Millisecond

// bucketEntry is the current value of one key of a bucket.
type bucketEntry struct {
	value   []byte
	created time.Time // when it was written (the broker's clock)
}

// readBucket reads a bucket to its end: the current value of every key,
// by key, de-duplicated (a key rewritten during the read comes again and
// the later value wins; a key deleted meanwhile is dropped). headersOnly
// leaves the values out.
//
// A bucket keeps one message per key; an ordered consumer delivers them in
// stream order from the first. The read ends once it has delivered the
// stream's last sequence as of after the consumer was made. A gap in the
// delivered sequences means messages ahead of the read were replaced
// before it got there: their keys moved to the end of the stream, so the
// read extends to the stream's new last sequence. (A key-value watch's
// end-of-initial-values marker, and the pending counts it relies on, come
// early under such churn: 208 of 220 nodes were seen.)
func readBucket(ctx context.Context, js jetstream.JetStream, name string, headersOnly bool) (map[string]bucketEntry, error) {
	stream := "KV_" + name
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{HeadersOnly: headersOnly, InactiveThreshold: 2 * time.Second})
	if err != nil {
		return nil, bucketErr(name, err)
	}
	defer func() {
		// An ordered consumer outlives its reader until it has been
		// inactive for a while; a stream holds a limited number.
		_ = js.DeleteConsumer(context.WithoutCancel(ctx), stream, cons.CachedInfo().Name)
	}()
	st, err := js.Stream(ctx, stream) // after the consumer: bounds what it must deliver
	if err != nil {
		return nil, bucketErr(name, err)
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return map[string]bucketEntry{}, nil
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return nil, fmt.Errorf("reading bucket %s: %w", name, err)
	}
	defer msgs.Stop()
	prefix := "$KV." + name + "."
	entries := make(map[string]bucketEntry, state.Msgs)
	for prev, need := state.FirstSeq-1, state.LastSeq; prev < need; {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading bucket %s: %w", name, ctx.Err())
		}
		m, err := msgs.Next(jetstream.NextMaxWait(stallCheck))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			// The last messages may have expired unseen: is anything
			// left after the read's position?
			if _, err := st.GetMsg(ctx, prev+1, jetstream.WithGetMsgSubject(prefix+">")); errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading bucket %s: %w", name, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("reading bucket %s: %w", name, err)
		}
		if seq := meta.Sequence.Stream; seq > prev+1 {
			if need, err = refreshNeed(ctx, st, need); err != nil {
				return nil, err
			}
		}
		prev = max(prev, meta.Sequence.Stream)
		key := strings.TrimPrefix(m.Subject(), prefix)
		if h := m.Headers(); h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != "" {
			delete(entries, key)
			continue
		}
		entries[key] = bucketEntry{value: m.Data(), created: meta.Timestamp}
	}
	return entries, nil
}

// bucketErr wraps errNoRegistry when err says the bucket or JetStream is
// not there.
func bucketErr(name string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w %s", errNoRegistry, name)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrJetStreamNotEnabled):
		return fmt.Errorf("%w: the broker has no JetStream", errNoRegistry)
	}
	return fmt.Errorf("opening bucket %s: %w", name, err)
}

// lastSeq is the last sequence of stream st now.
func lastSeq(ctx context.Context, st jetstream.Stream) (uint64, error) {
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the state of %s: %w", st.CachedInfo().Config.Name, err)
	}
	return info.State.LastSeq, nil
}

// refreshNeed is the later of need and the stream's last sequence now.
func refreshNeed(ctx context.Context, st jetstream.Stream, need uint64) (uint64, error) {
	last, err := lastSeq(ctx, st)
	return max(need, last), err
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
