package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Status is the outcome code of a reply. It travels as its string name.
type Status string

// The status codes a node can answer with.
const (
	StatusOK            Status = "ok"             // the action ran and succeeded
	StatusAborted       Status = "aborted"        // the action ran and failed
	StatusUnknownAgent  Status = "unknown_agent"  // the node does not serve that agent
	StatusUnknownAction Status = "unknown_action" // the agent has no such action
	StatusMissingInput  Status = "missing_input"  // a required input was not given
	StatusInvalidInput  Status = "invalid_input"  // an input failed the schema or the provider's own checks
	StatusUnauthorised  Status = "unauthorised"   // unsigned, badly signed, untrusted, expired, replayed or denied by policy
	StatusInternalError Status = "error"          // anything else that went wrong on the node
)

// Reply is the envelope of one node's answer to a Request.
type Reply struct {
	Version   int             `json:"v"`
	RequestID string          `json:"request_id"`
	Identity  string          `json:"identity"`
	Status    Status          `json:"status"`
	Message   string          `json:"message,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Changed   bool            `json:"changed,omitempty"` // the action changed (or, in no-op mode, would change) the node
	Elapsed   time.Duration   `json:"elapsed"`           // time the node spent on the request
	// Signature is the node's ed25519 signature (base64url, no padding)
	// over rpc.ReplySigningBytes, by the key the node registered; clients
	// drop replies whose signature does not verify.
	Signature string `json:"sig,omitempty"`
}

// OK reports whether the reply's status is StatusOK.
func (r *Reply) OK() bool { return r.Status == StatusOK }

// Filter selects nodes. Every non-empty part must match (AND); within Classes,
// Agents and Identities every entry must match, except that Identities match
// when any entry does. Entries written /like this/ are regular expressions.
type Filter struct {
	Facts      []FactFilter `json:"facts,omitempty"`
	Classes    []string     `json:"classes,omitempty"`
	Agents     []string     `json:"agents,omitempty"`
	Identities []string     `json:"identities,omitempty"`
}

// FactFilter is one fact comparison: cluster=bravo, cluster=/al/, cpus>=4.
// Op is one of ==, !=, =~ (regex), <, <=, >, >=.
type FactFilter struct {
	Fact  string `json:"fact"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

// NodeInfo is what a node tells about itself in the registry and in
// discovery replies.
type NodeInfo struct {
	Identity   string            `json:"identity"`
	Collective string            `json:"collective"`
	PublicKey  string            `json:"public_key"`
	Facts      map[string]any    `json:"facts"`
	Classes    []string          `json:"classes"`
	Agents     map[string]string `json:"agents"` // agent name -> schema version
	Version    string            `json:"version"`
	Started    time.Time         `json:"started"`
	Registered time.Time         `json:"registered"`

	// Schemas are the schemas of the node's external agents (docs/agents.md),
	// each a ddl.Agent as compact JSON, by agent name; clients know the
	// built-in agents' schemas already. At most 256 KiB in all.
	Schemas map[string]json.RawMessage `json:"schemas,omitempty"`
	// Instance is a random id of the running agent process: a node never
	// removes or silently overwrites a registration of another instance.
	Instance string `json:"instance,omitempty"`
}

// MissingNode is a node that left the registry without stopping
// gracefully (its entry expired): it is reported, with what it last said
// about itself, until its tombstone ages out.
type MissingNode struct {
	NodeInfo
	// LastSeen is when the node last renewed its registration (the
	// broker's clock): it has been missing since then.
	LastSeen time.Time `json:"last_seen"`
}

// StatusError is an error carrying a reply status.
type StatusError struct {
	Status  Status
	Message string
}

// Error is "status: message".
func (e *StatusError) Error() string { return fmt.Sprintf("%s: %s", e.Status, e.Message) }

// Errorf returns a *StatusError with the given status and formatted message.
func Errorf(status Status, format string, args ...any) error {
	return &StatusError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Retry says how a call retries the nodes still failing. The zero value
// means: no retry.
type Retry struct {
	// Attempts is the total number of attempts including the first; 0 =
	// bounded by Timeout only.
	Attempts int `json:"attempts,omitempty"`
	// Interval is the pause between attempts (the call executor's default
	// applies to 0).
	Interval time.Duration `json:"interval,omitempty"`
	// Timeout stops retrying this long after the first attempt started.
	// When the next attempt would start after it, one last attempt is made
	// at the deadline instead of giving up early.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Enabled reports whether any retry was asked for.
func (r Retry) Enabled() bool { return r.Attempts > 1 || r.Timeout > 0 }

// ErrLockHeld is wrapped (naming the holder) by the error of taking a run
// lock that another run holds.
var ErrLockHeld = errors.New("run lock held")

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
	OnReply func(*Reply)
	// RequestID, when set, is the id of every request the call sends; by
	// default Call makes one per request and CallAnyOne one for all its
	// failover attempts. Nodes refuse an id they have seen (replay), so a
	// caller setting it must never reuse one on the same node.
	RequestID string
	// Accept, for CallAnyOne, says whether a reply ends the failover; nil
	// accepts any ok reply. The engine uses it to fail over when a resource
	// type's own check rejects a node's ok reply.
	Accept func(*Reply) bool
}

// CallResult is the outcome of a call over a set of nodes.
type CallResult struct {
	// Replies in arrival order, at most one per node.
	Replies []*Reply
	// Missing are the targeted nodes that did not answer in time, sorted.
	Missing []string
	// Absent says, for the Missing nodes known not to be listening, why:
	// nobody was subscribed to the node's subject when the request was
	// sent, or a liveness probe found it gone (or hung) while the call
	// waited. Nodes merely silent until the timeout are not in it.
	Absent map[string]string
	// Elapsed is the wall time of the whole call.
	Elapsed time.Duration
	// DroppedReplies counts the messages that arrived as replies but were
	// dropped unjudged: unsigned, badly signed, signed by another key than
	// the node's, answering as another node or for another request.
	DroppedReplies int
}
