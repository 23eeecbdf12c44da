package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/resources"
	"github.com/orch-fleet/orch/rpc"
)

// instant answers every action at once, saying it changed something (and,
// for check.run, exit code 0).
type instant struct{ agent string }

func (i instant) Schema() *ddl.Agent {
	a := &ddl.Agent{Name: i.agent, Version: "1"}
	for _, n := range []string{"ping", "deploy", "disable", "enable", "run", "notify"} {
		a.Actions = append(a.Actions, &ddl.Action{Name: n, Mutates: true})
	}
	return a
}

func (i instant) Handle(_ context.Context, c *rpc.Call) (*rpc.Result, error) {
	return &rpc.Result{Changed: !c.NoOp || c.Action == "deploy", Data: map[string]any{"exitcode": 0}}, nil
}

// webappShaped is the webapp playbook's shape on instant agents: discover,
// ping, ask what is pending (noop), disable on the load balancer, deploy in
// batches of 2, check, enable, notify any one.
const webappShaped = `
nodes "lb" {
  agent = "lb"
}
nodes "web" {
  fact  = { role = "web" }
  agent = "app"
}
resource "rpc" "ping" {
  targets = concat(nodes.lb, nodes.web)
  agent   = "sys"
  action  = "ping"
}
resource "rpc" "pending" {
  targets    = nodes.web
  agent      = "app"
  action     = "deploy"
  noop       = true
  depends_on = [rpc.ping]
}
resource "rpc" "disable" {
  targets = nodes.lb
  agent   = "lb"
  action  = "disable"
  depends_on = [rpc.pending]
}
resource "rpc" "deploy" {
  targets    = rpc.pending.changed_nodes
  agent      = "app"
  action     = "deploy"
  batch_size = 2
  depends_on = [rpc.disable]
}
resource "rpc" "check" {
  targets = nodes.web
  agent   = "app"
  action  = "run"
  expect  = reply.data.exitcode == 0
  depends_on = [rpc.deploy]
}
resource "rpc" "enable" {
  targets    = nodes.lb
  agent      = "lb"
  action     = "enable"
  depends_on = [rpc.check]
}
resource "rpc" "notify" {
  agent      = "notify"
  action     = "notify"
  any_one    = true
  depends_on = [rpc.enable]
}
`

// BenchmarkWebappShaped runs the 8-step webapp-shaped playbook over n
// in-process web nodes (plus a load balancer and two notifiers) with
// instant actions, beside the raw floor: the same RPC rounds made directly
// with the rpc client (discovery, ping, pending, disable, n/2 deploy
// batches, check, enable, notify). The difference is the engine's and the
// catalog's overhead.
func BenchmarkWebappShaped(b *testing.B) {
	for _, n := range []int{100, 1000} {
		s := natstest.Start(b)
		conns := make([]*nats.Conn, 8)
		for i := range conns {
			nc, err := nats.Connect(natstest.URL(s))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(nc.Close)
			conns[i] = nc
		}
		start := func(i int, id string, facts map[string]any, agent string) {
			key, _ := nkeys.CreateUser()
			pub, _ := key.PublicKey()
			info := fleet.NodeInfo{Identity: id, Collective: rpc.DefaultCollective, PublicKey: pub, Facts: facts, Agents: map[string]string{agent: "1", "sys": "1"}}
			srv, err := rpc.NewServer(conns[i%len(conns)], rpc.ServerOptions{Identity: id, Key: key, Info: func() fleet.NodeInfo { return info }, Handlers: map[string]rpc.Handler{agent: instant{agent}, "sys": instant{"sys"}}, Concurrency: 64})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			if err := rpc.Register(context.Background(), conns[i%len(conns)], info, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		start(0, "lb1", map[string]any{"role": "lb"}, "lb")
		start(1, "notify1", map[string]any{"role": "notifier"}, "notify")
		start(2, "notify2", map[string]any{"role": "notifier"}, "notify")
		for i := range n {
			start(i+3, fmt.Sprintf("web%04d", i), map[string]any{"role": "web"}, "app")
		}
		nc, err := nats.Connect(natstest.URL(s))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		kp, _ := nkeys.CreateUser()
		cl := rpc.NewClient(nc, kp, rpc.ClientOptions{Name: "bench"})
		path := filepath.Join(b.TempDir(), "webapp.hcl")
		if err := os.WriteFile(path, []byte(webappShaped), 0o644); err != nil {
			b.Fatal(err)
		}
		reg := resources.Builtin()
		ctx := context.Background()

		b.Run(fmt.Sprintf("engine/nodes=%d", n), func(b *testing.B) {
			for b.Loop() {
				// Compile inside the loop: a run is compile + walk.
				cat, diags := playbook.Load(path, reg, playbook.LoadOptions{})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				rep, err := engine.Run(ctx, cat, reg, rpc.NewFleet(cl, rpc.DiscoverOptions{}), engine.Options{})
				if err != nil || rep.Outcome != engine.OutcomeOK {
					b.Fatalf("%v %s", err, rep.Summary())
				}
				if rep.Changed != 3*n+4 { // ping, deploy and check on every web node (+ the load balancer), disable, enable, notify
					b.Fatalf("changed %d: %s", rep.Changed, rep.Summary())
				}
			}
		})
		b.Run(fmt.Sprintf("floor/nodes=%d", n), func(b *testing.B) {
			call := func(agent, action string, targets []string, batch int, noop bool) []string {
				if batch <= 0 {
					batch = max(len(targets), 1)
				}
				var changed []string
				for i := 0; i < len(targets); i += batch {
					res, err := cl.Call(ctx, fleet.CallRequest{Agent: agent, Action: action, Targets: targets[i:min(i+batch, len(targets))], Timeout: 10 * time.Second, NoOp: noop})
					if err != nil || len(res.Missing) > 0 {
						b.Fatalf("%s.%s: %v, missing %v", agent, action, err, res.Missing)
					}
					for _, r := range res.Replies {
						if r.Changed {
							changed = append(changed, r.Identity)
						}
					}
				}
				return changed
			}
			discover := func(f fleet.Filter) []string {
				nodes, err := cl.Discover(ctx, f, rpc.DiscoverOptions{})
				if err != nil {
					b.Fatal(err)
				}
				ids := make([]string, len(nodes))
				for i, nd := range nodes {
					ids[i] = nd.Identity
				}
				return ids
			}
			for b.Loop() {
				lb := discover(fleet.Filter{Agents: []string{"lb"}})
				web := discover(fleet.Filter{Agents: []string{"app"}, Facts: []fleet.FactFilter{{Fact: "role", Op: "==", Value: "web"}}})
				call("sys", "ping", append(append([]string{}, lb...), web...), 0, false)
				pending := call("app", "deploy", web, 0, true)
				call("lb", "disable", lb, 0, false)
				call("app", "deploy", pending, 2, false)
				call("app", "run", web, 0, false)
				call("lb", "enable", lb, 0, false)
				if _, err := cl.CallAnyOne(ctx, fleet.CallRequest{Agent: "notify", Action: "notify", Timeout: 10 * time.Second}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
