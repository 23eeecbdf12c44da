package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// slowPlaybook calls slow.wait on four nodes in batches of two, with a
// one-minute call timeout: long enough that waiting it out would show.
const slowPlaybook = `
nodes "web" {
  fact = { cluster = "alfa" }
}
resource "rpc" "deploy" {
  targets    = nodes.web
  agent      = "slow"
  action     = "wait"
  inputs     = { ms = 1200 }
  batch_size = 2
  timeout    = "1m"
}
`

// slowAgent holds each call for its input's ms, telling started first.
type slowAgent struct{ started func() }

func (slowAgent) Schema() *ddl.Agent {
	return &ddl.Agent{Name: "slow", Version: "1", Actions: []*ddl.Action{{
		Name: "wait", Inputs: []ddl.Input{{Name: "ms", Type: ddl.Integer, Required: true}}}}}
}

func (a slowAgent) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	a.started()
	select {
	case <-time.After(time.Duration(c.Input["ms"].(int64)) * time.Millisecond):
		return &rpc.Result{Message: "waited"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// slowFleet starts a broker and nodes e1-e4 (registered, cluster alfa)
// serving slow; started(id) is called as each call starts on a node.
// It returns the broker, the nodes' connections and an orch runner.
func slowFleet(t *testing.T, started func(id string)) (*server.Server, map[string]*nats.Conn, func(args ...string) (int, string, string)) {
	t.Helper()
	s := natstest.Start(t)
	dir := t.TempDir()
	conns := map[string]*nats.Conn{}
	for _, id := range []string{"e1", "e2", "e3", "e4"} {
		nc, err := rpc.Connect(context.Background(), []string{s.ClientURL()}, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		nodeKey, _ := nkeys.CreateUser()
		pub, _ := nodeKey.PublicKey()
		info := fleet.NodeInfo{Identity: id, Collective: rpc.DefaultCollective, PublicKey: pub, Facts: map[string]any{"cluster": "alfa"}, Agents: map[string]string{"slow": "1"}}
		srv, err := rpc.NewServer(nc, rpc.ServerOptions{Identity: id, Key: nodeKey, Info: func() fleet.NodeInfo { return info },
			Handlers: map[string]rpc.Handler{"slow": slowAgent{func() { started(id) }}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := rpc.Register(context.Background(), nc, info, time.Minute); err != nil {
			t.Fatal(err)
		}
		conns[id] = nc
	}
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	keyFile := filepath.Join(dir, "client.nk")
	pb := filepath.Join(dir, "deploy.hcl")
	for path, b := range map[string][]byte{keyFile: seed, pb: []byte(slowPlaybook)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := &testFleetT{url: s.ClientURL(), keyFile: keyFile, dir: dir}
	return s, conns, func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), f.env(&out, &errb, nil), append(args[:1:1], append([]string{pb}, args[1:]...)...))
		return code, out.String(), errb.String()
	}
}

// TestApplyDyingNodeAndBroker: a node whose agent goes away mid-batch fails
// within seconds (not the one-minute call timeout) and later batches still
// run; a broker gone for good fails the run within --broker-grace, naming
// the broker and the nodes never started, exit 1.
func TestApplyDyingNodeAndBroker(t *testing.T) {
	cases := map[string]struct {
		fault      func(s *server.Server, conns map[string]*nats.Conn)
		args       []string
		wantReason []string
		wantErr    string
		bound      time.Duration
	}{
		"agent dies": {
			fault:      func(_ *server.Server, conns map[string]*nats.Conn) { conns["e1"].Close() },
			wantReason: []string{"1 of 4 node(s) failed: e1 (no answer: node went away during the call (no responders on its subject))"},
			bound:      rpc.DefaultProbeInterval + 2*1200*time.Millisecond + 2*time.Second,
		},
		"broker lost": {
			fault: func(s *server.Server, _ map[string]*nats.Conn) { s.Shutdown() },
			args:  []string{"--broker-grace", "500ms"},
			wantReason: []string{"lost the broker nats://", "no broker came back within 500ms",
				"later batches: 2 of 4 node(s) not started: e3, e4"},
			wantErr: "orch apply: lost the broker nats://",
			bound:   3 * time.Second,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			faulted := make(chan struct{})
			var fault func()
			s, conns, orch := slowFleet(t, func(id string) {
				if id == "e1" {
					go fault()
				}
			})
			fault = func() { tc.fault(s, conns); close(faulted) }
			start := time.Now()
			code, out, errOut := orch(append([]string{"apply", "-json"}, tc.args...)...)
			t.Logf("stderr: %s", errOut)
			took := time.Since(start)
			t.Logf("exit %d after %s", code, took.Round(time.Millisecond))
			<-faulted
			if code != exitFailed || took > tc.bound {
				t.Fatalf("exit %d after %s (bound %s)\n%s\n%s", code, took, tc.bound, out, errOut)
			}
			ends := find(events(t, out), engine.EventResourceEnd, "rpc.deploy")
			if len(ends) != 1 {
				t.Fatalf("resource_end events %+v", ends)
			}
			t.Logf("reason: %s", ends[0].Message)
			for _, want := range tc.wantReason {
				if !strings.Contains(ends[0].Message, want) {
					t.Errorf("reason %q, want %q", ends[0].Message, want)
				}
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q, want %q", errOut, tc.wantErr)
			}
			if tc.wantErr != "" && len(find(events(t, out), engine.EventBroker, "")) == 0 {
				t.Errorf("no broker event:\n%s", out)
			}
		})
	}
}
