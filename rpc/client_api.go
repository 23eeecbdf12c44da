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

// DirectSubject is the subject one node listens on for requests addressed to it.
func DirectSubject(collective, identity string) string {
	return collective + ".node." + identity
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

// Discovery methods for DiscoverOptions.Method.
const (
	DiscoverAuto      = ""          // registry when the bucket exists, else broadcast
	DiscoverRegistry  = "registry"  // read the registry bucket
	DiscoverBroadcast = "broadcast" // ask the fleet and collect until a quiet window passes
)

// DiscoverOptions tune Client.Discover.
type DiscoverOptions struct {
	Method  string        // DiscoverAuto, DiscoverRegistry or DiscoverBroadcast
	Timeout time.Duration // cap on broadcast collection; 0 = 2s
	Quiet   time.Duration // broadcast stops when no new reply came for this long; 0 = 100ms
}

// CallRequest is one action to call on a set of nodes.
type CallRequest struct {
	Agent  string
	Action string
	// Input is the action's input as JSON-shaped Go values. The client
	// validates it against the action's schema when it knows the schema.
	Input map[string]any
	// Targets are the node identities to call, in order. For CallAnyOne an
	// empty Targets means: any node serving Agent (queue group).
	Targets []string
	// Timeout bounds the wait for replies (for CallAnyOne, each node's);
	// 0 = 10s.
	Timeout time.Duration
	NoOp    bool // plan mode: ask what would change
	// OnReply, when set, is called for each reply as it arrives (from the
	// goroutine collecting replies; it must not block for long).
	OnReply func(*fleet.Reply)
	// RequestID, when set, is the id of every request the call sends; by
	// default Call makes one per request and CallAnyOne one for all its
	// failover attempts. Nodes refuse an id they have seen (replay), so a
	// caller setting it must never reuse one on the same node.
	RequestID string
	// Accept, for CallAnyOne, says whether a reply ends the failover; nil
	// accepts any ok reply. The engine uses it to fail over when a resource
	// type's own check rejects a node's ok reply.
	Accept func(*fleet.Reply) bool
}

// CallResult is the outcome of a call over a set of nodes.
type CallResult struct {
	// Replies in arrival order, at most one per node.
	Replies []*fleet.Reply
	// Missing are the targeted nodes that did not answer in time, sorted.
	Missing []string
	// Elapsed is the wall time of the whole call.
	Elapsed time.Duration
}
