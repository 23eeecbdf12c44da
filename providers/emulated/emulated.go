// Package emulated is the agent of emulated nodes (orch emulate): its
// actions change nothing on the host, take a configurable time, fail at a
// configurable rate and report a change the first time a step is applied to
// a node, so that a playbook can be rehearsed against a fleet the size of
// production. A real node may serve it too (provider "emulated" {}).
//
//	h := emulated.NewHandler(emulated.Config{Delay: 50 * time.Millisecond, FailureRate: 0.01})
package emulated

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "emulated", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return newTable() }}
}

// Schema returns the emulated agent's actions.
func Schema() *ddl.Agent { return newTable().Schema() }

const stepPattern = `^[\w.-]+$`

// newTable declares the emulated agent: each action's schema beside its
// handler.
func newTable() *action.Table[*Handler] {
	stepIn := ddl.Input{Name: "step", Type: ddl.String, Default: "default", Pattern: stepPattern, MaxLength: 128,
		Description: "a name for the work; the first apply of a step to a node reports a change, later ones do not"}
	return action.NewTable(ddl.Agent{
		Name:        "emulated",
		Description: "Work that changes nothing: configurable time and failure rate, for rehearsing playbooks on emulated fleets.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "apply", Description: "Apply a step: wait the delay, fail at the failure rate, report a change the first time.",
			Inputs: []ddl.Input{stepIn,
				{Name: "delay", Type: ddl.String, Pattern: `^[0-9.]+(ns|us|ms|s|m)$`, MaxLength: 32,
					Description: "how long the work takes (a Go duration); default: the provider's delay"},
				{Name: "fail", Type: ddl.Boolean, Default: false, Description: "fail on purpose"}},
			Outputs: []ddl.Output{{Name: "step", Type: ddl.String}, {Name: "took_ms", Type: ddl.Number, Description: "the emulated work's duration"}}},
			(*Handler).apply),
		action.New(&ddl.Action{Name: "check", Description: "Check a step: wait the delay, fail at the failure rate; ok when the step was applied.",
			Inputs:  []ddl.Input{stepIn},
			Outputs: []ddl.Output{{Name: "step", Type: ddl.String}, {Name: "applied", Type: ddl.Boolean}}},
			(*Handler).check),
	)
}

// Config is how emulated work behaves.
type Config struct {
	Delay       time.Duration // how long an action takes; a random 0–Jitter is added
	Jitter      time.Duration
	FailureRate float64 // share of actions that fail, 0–1
}

// hclConfig is the provider block.
type hclConfig struct {
	Delay       string  `hcl:"delay,optional"`
	Jitter      string  `hcl:"jitter,optional"`
	FailureRate float64 `hcl:"failure_rate,optional"`
}

// New builds the handler from a provider block: delay and jitter (Go
// durations) and failure_rate (0–1).
func New(body hcl.Body, _ providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c hclConfig
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	var cfg Config
	var err error
	if c.Delay != "" {
		if cfg.Delay, err = time.ParseDuration(c.Delay); err != nil {
			return nil, providers.Invalid(body, "Invalid delay", "delay: %v", err)
		}
	}
	if c.Jitter != "" {
		if cfg.Jitter, err = time.ParseDuration(c.Jitter); err != nil {
			return nil, providers.Invalid(body, "Invalid jitter", "jitter: %v", err)
		}
	}
	if c.FailureRate < 0 || c.FailureRate > 1 {
		return nil, providers.Invalid(body, "Invalid failure_rate", "failure_rate must be between 0 and 1, not %g", c.FailureRate)
	}
	cfg.FailureRate = c.FailureRate
	return NewHandler(cfg), nil
}

// Shared is what the handlers of many emulated nodes share: the action
// table (built once) and the behaviour.
type Shared struct {
	cfg   Config
	table *action.Table[*Handler]
}

// NewShared returns the part of a handler that every emulated node of one
// process shares.
func NewShared(cfg Config) *Shared { return &Shared{cfg: cfg, table: newTable()} }

// Handler serves the emulated agent for one node: it remembers the steps
// applied to it.
type Handler struct {
	sh      *Shared
	mu      sync.Mutex
	applied map[string]bool
}

// NewHandler returns a handler with its own shared part.
func NewHandler(cfg Config) *Handler { return NewShared(cfg).Handler() }

// Handler returns a new node's handler.
func (sh *Shared) Handler() *Handler { return &Handler{sh: sh} }

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.sh.table.Schema() }

// Handle runs one action.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.sh.table.Handle(ctx, h, c)
}

type applyInput struct {
	Step  string `json:"step"`
	Delay string `json:"delay"`
	Fail  bool   `json:"fail"`
}

func (h *Handler) apply(ctx context.Context, c *rpc.Call, in *applyInput) (*rpc.Result, error) {
	d := h.sh.cfg.Delay
	if in.Delay != "" {
		var err error
		if d, err = time.ParseDuration(in.Delay); err != nil {
			return nil, fleet.Errorf(fleet.StatusInvalidInput, "delay: %v", err)
		}
	}
	took, err := h.work(ctx, d, in.Fail)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	changed := !h.applied[in.Step]
	if changed && !c.NoOp {
		if h.applied == nil {
			h.applied = map[string]bool{}
		}
		h.applied[in.Step] = true
	}
	h.mu.Unlock()
	return &rpc.Result{Changed: changed, Data: map[string]any{"step": in.Step, "took_ms": took.Milliseconds()}}, nil
}

type checkInput struct {
	Step string `json:"step"`
}

func (h *Handler) check(ctx context.Context, _ *rpc.Call, in *checkInput) (*rpc.Result, error) {
	if _, err := h.work(ctx, h.sh.cfg.Delay, false); err != nil {
		return nil, err
	}
	h.mu.Lock()
	applied := h.applied[in.Step]
	h.mu.Unlock()
	if !applied {
		return nil, fleet.Errorf(fleet.StatusAborted, "step %s was not applied", in.Step)
	}
	return &rpc.Result{Data: map[string]any{"step": in.Step, "applied": true}}, nil
}

// work waits d plus the jitter, then fails at the failure rate (always when
// fail is set).
func (h *Handler) work(ctx context.Context, d time.Duration, fail bool) (time.Duration, error) {
	if j := h.sh.cfg.Jitter; j > 0 {
		d += rand.N(j)
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, fleet.Errorf(fleet.StatusAborted, "emulated work interrupted: %v", ctx.Err())
		}
	}
	if fail || h.sh.cfg.FailureRate > 0 && rand.Float64() < h.sh.cfg.FailureRate {
		return d, fleet.Errorf(fleet.StatusAborted, "emulated failure")
	}
	return d, nil
}

var _ rpc.Handler = (*Handler)(nil)
