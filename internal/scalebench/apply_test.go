package scalebench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
	"github.com/orch-fleet/orch/rpc"
)

// rehearsal is the webapp playbook's shape on the emulated agent: discover
// the load balancers and web nodes, ping, ask what is pending (noop),
// disable on the load balancers, deploy in batches, check, enable, notify
// any one. Each run applies new steps (var.run), so every run does the work.
const rehearsal = `
variable "run" { type = string }
variable "batch" { type = number }
nodes "lb" {
  fact = { role = "lb" }
}
nodes "web" {
  fact = { role = "web" }
}
resource "rpc" "ping" {
  targets = concat(nodes.lb, nodes.web)
  agent   = "rpcutil"
  action  = "ping"
}
resource "rpc" "pending" {
  targets    = nodes.web
  agent      = "emulated"
  action     = "apply"
  inputs     = { step = "deploy-${var.run}" }
  noop       = true
  depends_on = [rpc.ping]
}
resource "rpc" "disable" {
  targets    = nodes.lb
  agent      = "emulated"
  action     = "apply"
  inputs     = { step = "disable-${var.run}" }
  depends_on = [rpc.pending]
}
resource "rpc" "deploy" {
  targets    = rpc.pending.changed_nodes
  agent      = "emulated"
  action     = "apply"
  inputs     = { step = "deploy-${var.run}" }
  batch_size = var.batch
  depends_on = [rpc.disable]
}
resource "rpc" "check" {
  targets    = nodes.web
  agent      = "emulated"
  action     = "check"
  inputs     = { step = "deploy-${var.run}" }
  depends_on = [rpc.deploy]
}
resource "rpc" "enable" {
  targets    = nodes.lb
  agent      = "emulated"
  action     = "apply"
  inputs     = { step = "enable-${var.run}" }
  depends_on = [rpc.check]
}
resource "rpc" "notify" {
  agent      = "emulated"
  action     = "apply"
  inputs     = { step = "notify-${var.run}" }
  any_one    = true
  depends_on = [rpc.enable]
}
`

// applyRow runs the rehearsal playbook (compile + walk) on the emulated
// fleet; its floor is the same RPC rounds made directly with the client.
func applyRow(b *testing.B, e *env, n int) row {
	path := filepath.Join(b.TempDir(), "rehearsal.hcl")
	if err := os.WriteFile(path, []byte(rehearsal), 0o644); err != nil {
		b.Fatal(err)
	}
	reg := resources.Builtin()
	ctx := context.Background()
	web := n - (n+9)/10
	batch := max(1, web/10)
	run := 0
	orch := median(b, rounds(n), func() error {
		run++
		cat, diags := playbook.Load(path, reg, playbook.LoadOptions{Schemas: builtin.Schema,
			Vars: []string{fmt.Sprintf("run=r%d", run), fmt.Sprintf("batch=%d", batch)}})
		if diags.HasErrors() {
			return diags
		}
		rep, err := engine.Run(ctx, cat, reg, rpc.NewFleet(e.cl, rpc.DiscoverOptions{}), engine.Options{})
		if err == nil && rep.Outcome != engine.OutcomeOK {
			err = fmt.Errorf("apply: %s", rep.Summary())
		}
		return err
	})
	floor := median(b, rounds(n), func() error { run++; return directRounds(ctx, e.cl, fmt.Sprintf("r%d", run), batch) })
	return row{what: "8-step apply, batches of 10 %", n: fmt.Sprint(n), orch: orch, floor: floor,
		notes: "floor: the same RPC rounds made directly with the rpc client"}
}

// directRounds makes the rehearsal's RPC rounds without the engine.
func directRounds(ctx context.Context, cl *rpc.Client, run string, batch int) error {
	discover := func(role string) ([]string, error) {
		nodes, err := cl.Discover(ctx, fleet.Filter{Facts: []fleet.FactFilter{{Fact: "role", Op: "==", Value: role}}}, rpc.DiscoverOptions{})
		ids := make([]string, len(nodes))
		for i, nd := range nodes {
			ids[i] = nd.Identity
		}
		return ids, err
	}
	call := func(agent, action, step string, targets []string, size int, noop bool) ([]string, error) {
		size = max(1, min(size, len(targets)))
		var changed []string
		for i := 0; i < len(targets); i += size {
			res, err := cl.Call(ctx, fleet.CallRequest{Agent: agent, Action: action, Input: map[string]any{"step": step},
				Targets: targets[i:min(i+size, len(targets))], Timeout: time.Minute, NoOp: noop})
			if err != nil || len(res.Missing) > 0 {
				return nil, fmt.Errorf("%s.%s: %v, missing %d", agent, action, err, len(res.Missing))
			}
			for _, r := range res.Replies {
				if r.Changed {
					changed = append(changed, r.Identity)
				}
			}
		}
		return changed, nil
	}
	lb, err := discover("lb")
	if err != nil {
		return err
	}
	web, err := discover("web")
	if err != nil {
		return err
	}
	all := append(append([]string{}, lb...), web...)
	steps := []func() error{
		func() error {
			_, err := cl.Call(ctx, fleet.CallRequest{Agent: "rpcutil", Action: "ping", Targets: all, Timeout: time.Minute})
			return err
		},
		func() error { web, err = call("emulated", "apply", "deploy-"+run, web, len(web), true); return err },
		func() error { _, err := call("emulated", "apply", "disable-"+run, lb, len(lb), false); return err },
		func() error { _, err := call("emulated", "apply", "deploy-"+run, web, batch, false); return err },
		func() error { _, err := call("emulated", "check", "deploy-"+run, web, len(web), false); return err },
		func() error { _, err := call("emulated", "apply", "enable-"+run, lb, len(lb), false); return err },
		func() error {
			_, err := cl.CallAnyOne(ctx, fleet.CallRequest{Agent: "emulated", Action: "apply", Input: map[string]any{"step": "notify-" + run}, Timeout: time.Minute})
			return err
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// engineRows measures the engine alone: catalogs of 1,000 and 10,000
// resources of instant actions on one node, each depending on an earlier
// one; the floor makes the same calls in a plain loop.
func engineRows(b *testing.B) []row {
	var rows []row
	for _, n := range []int{1000, 10000} {
		rs := make([]*catalog.Resource, n)
		for i := range n {
			var deps []string
			if i > 0 {
				deps = []string{fmt.Sprintf("t.r%d", i/2)}
			}
			rs[i] = &catalog.Resource{Addr: fmt.Sprintf("t.r%d", i), Type: "t", DependsOn: deps, HasTargets: true, Late: instantLate{}}
		}
		cat := &catalog.Catalog{Resources: rs}
		reg := resources.Registry{"t": &resources.Type{Name: "t", Agent: "a", Request: func(map[string]any) (resources.Request, error) {
			return resources.Request{Agent: "a", Action: "x"}, nil
		}}}
		f := instantFleet{}
		ctx := context.Background()
		orch := median(b, 3, func() error {
			rep, err := engine.Run(ctx, cat, reg, f, engine.Options{})
			if err == nil && rep.Outcome != engine.OutcomeOK {
				err = fmt.Errorf("engine: %s", rep.Summary())
			}
			return err
		})
		floor := median(b, 3, func() error {
			for range n {
				if _, err := f.Call(ctx, fleet.CallRequest{Agent: "a", Action: "x", Targets: []string{"n1"}}); err != nil {
					return err
				}
			}
			return nil
		})
		rows = append(rows, row{what: "engine alone, instant actions", n: fmt.Sprintf("%d resources", n), orch: orch, floor: floor,
			notes: "floor: the same calls in a loop"})
	}
	return rows
}

// instantLate targets node n1 with no arguments.
type instantLate struct{}

func (instantLate) Targets(catalog.Resolved) ([]string, error)    { return []string{"n1"}, nil }
func (instantLate) Args(catalog.Resolved) (map[string]any, error) { return map[string]any{}, nil }
func (instantLate) HasExpect() bool                               { return false }
func (instantLate) Expect(*fleet.Reply) error                     { return nil }

// instantFleet answers every call at once, OK.
type instantFleet struct{}

func (instantFleet) Discover(context.Context, fleet.Filter) ([]string, error) {
	return []string{"n1"}, nil
}

func (instantFleet) Call(_ context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	res := &fleet.CallResult{}
	for _, t := range r.Targets {
		res.Replies = append(res.Replies, &fleet.Reply{Identity: t, Status: fleet.StatusOK})
	}
	return res, nil
}

func (f instantFleet) CallAnyOne(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	return f.Call(ctx, r)
}
