package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
)

// keySource says where the client learned a node's key; a key from a
// better source is never replaced by one from a worse.
type keySource int

const (
	keyFromBroadcast keySource = iota + 1 // self-declared in a broadcast discovery reply
	keyFromRegistry                       // the node's registry entry
	keyPinned                             // ClientOptions.NodeKeys
)

// keyRefreshEvery bounds how often the client re-reads one node's
// registry entry after a reply failed to verify against its key (the node
// may have a new key): forged replies cannot make it read the registry
// more often than that.
const keyRefreshEvery = 2 * time.Second

// nodeKey is one node's public key as the client knows it.
type nodeKey struct {
	kp      nkeys.KeyPair
	source  keySource
	fetched time.Time
}

// nodeKeys are the public keys a client checks replies against, by
// identity. Safe for concurrent use.
type nodeKeys struct {
	pinned bool
	mu     sync.RWMutex
	keys   map[string]nodeKey
}

// newNodeKeys returns the key store; with pinned keys it holds only
// those, and learns nothing from the registry or discovery. A pinned key
// that is not an nkey user public key pins nothing: that node's replies
// are all dropped.
func newNodeKeys(pinned map[string]string) *nodeKeys {
	k := &nodeKeys{pinned: len(pinned) > 0, keys: map[string]nodeKey{}}
	for id, pub := range pinned {
		if kp, err := parseNodeKey(pub); err == nil {
			k.keys[id] = nodeKey{kp: kp, source: keyPinned}
		}
	}
	return k
}

func parseNodeKey(pub string) (nkeys.KeyPair, error) {
	if !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("%q is not an nkey user public key", pub)
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("reading node key: %w", err)
	}
	return kp, nil
}

// get returns the key of identity.
func (k *nodeKeys) get(identity string) (nodeKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	nk, ok := k.keys[identity]
	return nk, ok
}

// learn records pub as identity's key, unless a key from a better source
// is known (or the keys are pinned). It reports whether pub is now the
// key of identity.
func (k *nodeKeys) learn(identity, pub string, src keySource) bool {
	if k.pinned || pub == "" {
		return false
	}
	kp, err := parseNodeKey(pub)
	if err != nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.keys[identity]; ok && old.source > src {
		return false
	}
	k.keys[identity] = nodeKey{kp: kp, source: src, fetched: time.Now()}
	return true
}

// missing returns the identities of ids without a key.
func (k *nodeKeys) missing(ids []string) []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []string
	for _, id := range ids {
		if _, ok := k.keys[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// ensureKeys makes sure the client knows the key of every target it can:
// when some are unknown (and keys are not pinned) it reads the whole
// registry once. It returns the targets whose key is still unknown.
func (c *Client) ensureKeys(ctx context.Context, targets []string) []string {
	missing := c.keys.missing(targets)
	if len(missing) == 0 || c.keys.pinned {
		return missing
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultDiscoveryTimeout)
	defer cancel()
	js, err := jetstream.New(c.nc)
	if err != nil {
		return missing
	}
	entries, err := readBucket(ctx, js, RegistryBucket(c.o.Collective), false)
	if err != nil {
		return missing
	}
	for key, e := range entries {
		if info, ok := decodeInfo(key, e.value); ok {
			c.keys.learn(info.Identity, info.PublicKey, keyFromRegistry)
		}
	}
	return c.keys.missing(targets)
}

// refreshKey re-reads identity's registry entry after a reply failed to
// verify against the key known for it, at most every keyRefreshEvery,
// and reports whether the key changed.
func (c *Client) refreshKey(identity string) bool {
	if c.keys.pinned {
		return false
	}
	if nk, ok := c.keys.get(identity); ok && time.Since(nk.fetched) < keyRefreshEvery {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kv, err := registryBucket(ctx, c.nc, c.o.Collective, 0, false)
	if err != nil {
		return false
	}
	e, err := kv.Get(ctx, fleet.EncodeIdentity(identity))
	if err != nil {
		return false
	}
	var info fleet.NodeInfo
	if json.Unmarshal(e.Value(), &info) != nil || info.Identity != identity {
		return false
	}
	old, _ := c.keys.get(identity)
	if !c.keys.learn(identity, info.PublicKey, keyFromRegistry) {
		return false
	}
	if old.kp == nil {
		return true
	}
	op, _ := old.kp.PublicKey()
	return op != info.PublicKey
}

// Reasons a reply is dropped.
var (
	errNoNodeKey      = errors.New("no key is known for the node (it is neither in the registry nor among the pinned keys), so its replies cannot be verified")
	errWrongIdentity  = errors.New("reply answers as another node than the one addressed")
	errWrongRequest   = errors.New("reply is for another request")
	errMalformedReply = errors.New("reply is not a JSON reply envelope")
)

// verifyReply checks that rep is identity's answer to request id, signed
// by identity's key; a failed check against a key that may be stale
// re-reads it from the registry once.
func (c *Client) verifyReply(rep *fleet.Reply, identity, id string) error {
	if rep.Identity != identity {
		return fmt.Errorf("%w (%q instead of %q)", errWrongIdentity, rep.Identity, identity)
	}
	if id != "" && rep.RequestID != id {
		return errWrongRequest
	}
	nk, ok := c.keys.get(identity)
	if !ok {
		if !c.refreshKey(identity) {
			return errNoNodeKey
		}
		nk, _ = c.keys.get(identity)
	}
	err := VerifyReply(rep, nk.kp)
	if err != nil && c.refreshKey(identity) {
		nk, _ = c.keys.get(identity)
		err = VerifyReply(rep, nk.kp)
	}
	return err
}

// drop counts a reply dropped unjudged.
func (c *Client) drop() { c.dropped.Add(1) }

// DroppedReplies is how many replies the client has dropped unjudged since
// it was made: forged, unsigned, badly signed or mis-attributed ones.
func (c *Client) DroppedReplies() int64 { return c.dropped.Load() }
