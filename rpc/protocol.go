package rpc

import (
	"context"
	"encoding/json"
	"time"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
)

// ProtocolVersion is the version of the envelopes below. Nodes reject
// requests of a version they do not speak with fleet.StatusInvalidInput.
const ProtocolVersion = 1

// DefaultCollective is the subject prefix used when none is configured.
const DefaultCollective = "orch"

// Request is the envelope of one RPC request. The signature covers every
// field but Signature itself (see SigningBytes).
type Request struct {
	Version    int             `json:"v"`
	ID         string          `json:"id"`
	SenderKey  string          `json:"sender_key"`  // the caller's nkey user public key ("U...")
	SenderName string          `json:"sender_name"` // a human name for audit logs, e.g. user@host
	Collective string          `json:"collective"`
	Agent      string          `json:"agent"`
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data,omitempty"`
	Filter     *fleet.Filter   `json:"filter,omitempty"`
	NoOp       bool            `json:"noop,omitempty"` // plan mode: report what would change, change nothing
	Time       time.Time       `json:"time"`
	TTL        time.Duration   `json:"ttl"`
	Signature  string          `json:"sig,omitempty"` // base64 ed25519 signature by SenderKey
}

// Call is a request as a provider sees it: checked, authorised and with its
// input validated against the action's schema.
type Call struct {
	RequestID  string
	Agent      string
	Action     string
	Input      map[string]any
	CallerKey  string
	CallerName string
	NoOp       bool
}

// Result is what a provider returns for a successful call.
type Result struct {
	Data    any    // marshalled to JSON into fleet.Reply.Data
	Changed bool   // the call changed (or would change, under NoOp) the node
	Message string // optional human summary
}

// Handler serves one agent on a node. Handle must return when ctx is done; an
// error of type *fleet.StatusError sets the reply's status, any other error becomes
// fleet.StatusAborted with the error's text. A panic in Handle is recovered by
// the Server: the request is answered with fleet.StatusInternalError and
// audited, and the node keeps serving.
type Handler interface {
	Schema() *ddl.Agent
	Handle(ctx context.Context, c *Call) (*Result, error)
}
