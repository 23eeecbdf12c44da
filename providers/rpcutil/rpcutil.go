// Package rpcutil is the provider every node serves: ping, inventory, a
// single fact, and the schemas of the node's agents.
package rpcutil

import (
	"context"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "rpcutil", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

// Schema returns the rpcutil agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

// actions declares the rpcutil agent: each action's schema beside its handler.
func actions() *action.Table[*handler] {
	return action.NewTable(ddl.Agent{
		Name:        "rpcutil",
		Description: "Node utilities: liveness, inventory and facts.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "ping", Description: "Answer at once with the node's time.",
			Outputs: []ddl.Output{{Name: "time", Type: ddl.String, Description: "the node's clock, RFC 3339"}}},
			(*handler).ping),
		action.New(&ddl.Action{Name: "inventory", Description: "Facts, classes, agents with schema versions, orch version and uptime.",
			Outputs: []ddl.Output{
				{Name: "identity", Type: ddl.String}, {Name: "facts", Type: ddl.Map}, {Name: "classes", Type: ddl.List},
				{Name: "agents", Type: ddl.Map, Description: "agent name -> schema version"},
				{Name: "version", Type: ddl.String, Description: "orch version"},
				{Name: "uptime_seconds", Type: ddl.Number},
			}},
			(*handler).inventory),
		action.New(&ddl.Action{Name: "get_fact", Description: "The value of one fact.",
			Inputs:  []ddl.Input{{Name: "fact", Type: ddl.String, Required: true, Description: "fact name; dots reach into nested facts", Pattern: `^[\w.-]+$`, MaxLength: 200}},
			Outputs: []ddl.Output{{Name: "fact", Type: ddl.String}, {Name: "value", Type: ddl.Any}, {Name: "found", Type: ddl.Boolean}}},
			(*handler).getFact),
		action.New(&ddl.Action{Name: "agents", Description: "The agents this node serves, with their full schemas.",
			Outputs: []ddl.Output{{Name: "agents", Type: ddl.List, Description: "one schema per agent"}}},
			(*handler).agents),
	)
}

// config is the provider block; rpcutil has no settings.
type config struct{}

// New builds the handler; the config block must be empty.
func New(body hcl.Body, env providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	return &handler{env: env, actions: actions()}, nil
}

type handler struct {
	env     providers.Env
	actions *action.Table[*handler]
}

func (h *handler) Schema() *ddl.Agent { return h.actions.Schema() }

func (h *handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.actions.Handle(ctx, h, c)
}

func (h *handler) ping(context.Context, *rpc.Call, *action.None) (*rpc.Result, error) {
	return &rpc.Result{Data: map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano)}}, nil
}

func (h *handler) inventory(context.Context, *rpc.Call, *action.None) (*rpc.Result, error) {
	info := h.env.Info()
	return &rpc.Result{Data: map[string]any{
		"identity": info.Identity, "facts": info.Facts, "classes": info.Classes, "agents": info.Agents,
		"version": info.Version, "uptime_seconds": time.Since(info.Started).Seconds(),
	}}, nil
}

type getFactInput struct {
	Fact string `json:"fact"`
}

func (h *handler) getFact(_ context.Context, _ *rpc.Call, in *getFactInput) (*rpc.Result, error) {
	v, ok := lookup(h.env.Info().Facts, in.Fact)
	return &rpc.Result{Data: map[string]any{"fact": in.Fact, "value": v, "found": ok}}, nil
}

func (h *handler) agents(context.Context, *rpc.Call, *action.None) (*rpc.Result, error) {
	var schemas []*ddl.Agent
	if h.env.Schemas != nil {
		schemas = h.env.Schemas()
	}
	sort.Slice(schemas, func(i, j int) bool { return schemas[i].Name < schemas[j].Name })
	return &rpc.Result{Data: map[string]any{"agents": schemas}}, nil
}

// lookup finds a fact; dotted names reach into nested maps.
func lookup(facts map[string]any, name string) (any, bool) {
	if v, ok := facts[name]; ok {
		return v, true
	}
	var cur any = facts
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[name[start:i]]; !ok {
			return nil, false
		}
		start = i + 1
	}
	return cur, true
}
