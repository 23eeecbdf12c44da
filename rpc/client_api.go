package rpc

import (
	"time"

	"github.com/orch-fleet/orch/fleet"
)

// Subjects. Every subject lives under the collective prefix:
//
//	<collective>.broadcast.<agent>   broadcast to every node serving agent (nodes filter)
//	<collective>.node.<identity>     direct to one node
//	<collective>.anyone.<agent>      "any one of N": nodes subscribe in queue group QueueGroup(agent)
//	<collective>.discover            broadcast discovery (nodes that match the filter answer with fleet.NodeInfo)

// BroadcastSubject is the subject every node serving agent listens on.
func BroadcastSubject(collective, agent string) string {
	return collective + ".broadcast." + agent
}

// DirectSubject is the subject one node listens on for requests addressed
// to it; the identity is one token, encoded by fleet.EncodeIdentity
// ("web.3" → "orch.node.web_3").
func DirectSubject(collective, identity string) string {
	return collective + ".node." + fleet.EncodeIdentity(identity)
}

// AnyOneSubject is the subject of "any one of N" requests for agent; nodes
// subscribe to it in the queue group QueueGroup(agent).
func AnyOneSubject(collective, agent string) string {
	return collective + ".anyone." + agent
}

// QueueGroup is the NATS queue group of the nodes serving agent.
func QueueGroup(agent string) string { return "orch-" + agent }

// DiscoverSubject is the subject of broadcast discovery.
func DiscoverSubject(collective string) string { return collective + ".discover" }

// RegistryBucket is the JetStream key-value bucket holding the node registry
// of a collective; keys are node identities, values JSON fleet.NodeInfo.
func RegistryBucket(collective string) string { return collective + "_registry" }

// LastSeenBucket is the JetStream key-value bucket holding every node's
// last heartbeat (keys are identities, values JSON fleet.NodeInfo); its
// entries outlive the registry's by TombstoneWindow, so that a node that
// vanished without deregistering is reported missing.
func LastSeenBucket(collective string) string { return collective + "_lastseen" }

// LockBucket is the JetStream key-value bucket holding the run locks of a
// collective.
func LockBucket(collective string) string { return collective + "_locks" }

// Discovery methods for DiscoverOptions.Method.
const (
	DiscoverAuto      = ""          // registry when the bucket exists and answers, else broadcast
	DiscoverRegistry  = "registry"  // read the registry bucket
	DiscoverBroadcast = "broadcast" // ask the fleet and collect until a quiet window passes
)

// DiscoverOptions tune Client.Discover.
type DiscoverOptions struct {
	Method  string        // DiscoverAuto, DiscoverRegistry or DiscoverBroadcast
	Timeout time.Duration // cap on reading the registry, and on broadcast collection; 0 = 2s
	Quiet   time.Duration // broadcast stops when no new reply came for this long; 0 = 100ms
	// MinWait is the least broadcast discovery waits, counted from the
	// request, before the quiet window may end it; 0 = 300ms.
	MinWait time.Duration
	// Warn, when set, is told when DiscoverAuto falls back to broadcast
	// because the registry exists but cannot be read (a lost broker, a
	// timeout): such a discovery knows nothing of missing nodes.
	Warn func(msg string)
}

func (o DiscoverOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultDiscoveryTimeout
	}
	return o.Timeout
}

// Discovery is what a discovery found.
type Discovery struct {
	Method string           // DiscoverRegistry or DiscoverBroadcast: how the nodes were found
	Nodes  []fleet.NodeInfo // the nodes the filter selects, sorted by identity
	// Missing are the nodes the filter selects that left the registry
	// without stopping gracefully within TombstoneWindow, sorted by
	// identity; registry discovery only.
	Missing []fleet.MissingNode
	// Warning says why registry discovery fell back to broadcast, if it
	// did ("" otherwise).
	Warning string
}
