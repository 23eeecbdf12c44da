// Package providers holds what node-side providers share. Each provider is a
// package below this one (rpcutil, haproxy, appmgr, nrpe, angelia, and the
// standard agents service, packages, exec, file) that makes
// resources true on a node and declares its actions, each schema entry beside
// its typed handler (package action); the node daemon hosts them.
package providers

import (
	"fmt"
	"log/slog"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// Env is what a provider may use of the node hosting it.
type Env struct {
	Identity string
	// Conn returns the node's broker connection, for providers that keep
	// state in NATS (angelia's delivery de-duplication); nil before the
	// node is connected, and in tests without a broker.
	Conn func() *nats.Conn
	// Collective is the node's subject prefix; buckets a provider creates are
	// named after it.
	Collective string
	// DataDir is a directory the provider may keep state in.
	DataDir string
	// Info returns the node's current identity, facts, classes and agents.
	Info func() fleet.NodeInfo
	// Schemas returns the schemas of every agent the node serves (for
	// rpcutil's agents action).
	Schemas func() []*ddl.Agent
	Logger  *slog.Logger
}

// Spec describes a provider to the node daemon.
type Spec struct {
	Name string
	// Schema returns the provider's action schema without any node config,
	// for clients (orch rpc --describe, input validation before sending).
	Schema func() *ddl.Agent
	// New decodes the provider's `provider "NAME" { ... }` block from the node
	// config and builds the handler. Errors are HCL diagnostics naming the
	// config file position.
	New func(body hcl.Body, env Env) (rpc.Handler, hcl.Diagnostics)
	// Actions returns the provider's action table (an action.Table) without
	// any node config, so that tests can check that every schema action has a
	// handler and the other way round. Nil for a provider that does not
	// dispatch through package action.
	Actions func() ActionTable
}

// ActionTable is what Spec shows of a provider's action.Table: the schema
// it declares, the actions it has handlers for, and their consistency.
type ActionTable interface {
	Schema() *ddl.Agent
	Handled() []string
	Check() error
}

// Decode decodes a provider block into cfg (a gohcl-tagged struct); a nil
// body is an empty block.
func Decode(body hcl.Body, cfg any) hcl.Diagnostics {
	if body == nil {
		return nil
	}
	return gohcl.DecodeBody(body, nil, cfg)
}

// Invalid is an error about a provider block as a whole, pointing at it.
func Invalid(body hcl.Body, summary, format string, args ...any) hcl.Diagnostics {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...)}
	if sb, ok := body.(interface{ Range() hcl.Range }); ok {
		rng := sb.Range()
		d.Subject = &rng
	}
	return hcl.Diagnostics{d}
}
