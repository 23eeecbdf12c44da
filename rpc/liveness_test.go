package rpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// slow is a test provider: slow.wait holds the call for the input's ms
// (or until the request's validity ends), telling started first.
type slow struct{ started chan<- string }

func (slow) Schema() *ddl.Agent {
	return &ddl.Agent{Name: "slow", Version: "1", Actions: []*ddl.Action{{
		Name: "wait", Inputs: []ddl.Input{{Name: "ms", Type: ddl.Integer, Default: int64(600000)}},
	}}}
}

func (s slow) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	s.started <- c.RequestID
	select {
	case <-time.After(time.Duration(c.Input["ms"].(int64)) * time.Millisecond):
		return &rpc.Result{Message: "waited"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startSlowNode serves slow as id on its own connection to url.
func startSlowNode(t *testing.T, url, id string, started chan<- string) *nats.Conn {
	t.Helper()
	nc, err := rpc.Connect(context.Background(), []string{url}, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	key, pub := nodeKey(t)
	info := fleet.NodeInfo{Identity: id, Collective: rpc.DefaultCollective, PublicKey: pub}
	srv, err := rpc.NewServer(nc, rpc.ServerOptions{Identity: id, Key: key, Info: func() fleet.NodeInfo { return info },
		Handlers: map[string]rpc.Handler{"slow": slow{started}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rpc.Register(context.Background(), nc, info, time.Minute); err != nil {
		t.Fatal(err)
	}
	return nc
}

func slowClient(t *testing.T, url string, o rpc.ClientOptions) *rpc.Client {
	t.Helper()
	var opts []nats.Option
	if o.Broker != nil {
		opts = o.Broker.Options()
	}
	nc, err := rpc.Connect(context.Background(), []string{url}, "tester", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	kp, _ := nkeys.CreateUser()
	return rpc.NewClient(nc, kp, o)
}

// TestDyingNodes: a target whose agent goes away or hangs during a call
// with a one-minute timeout fails within the liveness bound, naming why;
// a busy node that answers probes is waited for.
func TestDyingNodes(t *testing.T) {
	cases := map[string]struct {
		live    rpc.Liveness
		ms      int64
		fault   func(node *nats.Conn)
		wantMsg string        // Absent's text; "" = the node answers
		bound   time.Duration // the call must end within
	}{
		"connection dropped, default probes": {fault: func(nc *nats.Conn) { nc.Close() },
			wantMsg: "went away during the call (no responders on its subject)", bound: rpc.DefaultProbeInterval + time.Second},
		"connection dropped, fast probes": {live: rpc.Liveness{ProbeInterval: 100 * time.Millisecond}, fault: func(nc *nats.Conn) { nc.Close() },
			wantMsg: "went away during the call", bound: time.Second},
		"hung": {live: rpc.Liveness{ProbeInterval: 100 * time.Millisecond, HungAfter: 700 * time.Millisecond},
			fault: func(nc *nats.Conn) { hang(t, nc) }, wantMsg: "stopped answering liveness probes", bound: 2 * time.Second},
		"busy but alive": {live: rpc.Liveness{ProbeInterval: 100 * time.Millisecond, HungAfter: 500 * time.Millisecond}, ms: 1200,
			fault: func(*nats.Conn) {}, bound: 3 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := natstest.Start(t)
			started := make(chan string, 1)
			node := startSlowNode(t, s.ClientURL(), "e1", started)
			c := slowClient(t, s.ClientURL(), rpc.ClientOptions{Liveness: tc.live})
			go func() { <-started; tc.fault(node) }()
			input := map[string]any{}
			if tc.ms > 0 {
				input["ms"] = tc.ms
			}
			start := time.Now()
			res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "slow", Action: "wait", Input: input, Targets: []string{"e1"}, Timeout: time.Minute})
			took := time.Since(start)
			t.Logf("ended after %s", took.Round(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if took > tc.bound {
				t.Errorf("took %s, bound %s", took, tc.bound)
			}
			if tc.wantMsg == "" {
				if len(res.Replies) != 1 || !res.Replies[0].OK() {
					t.Fatalf("want an ok reply, got %+v missing %v absent %v", res.Replies, res.Missing, res.Absent)
				}
				return
			}
			if len(res.Missing) != 1 || !strings.Contains(res.Absent["e1"], tc.wantMsg) {
				t.Fatalf("missing %v absent %q, want %q", res.Missing, res.Absent, tc.wantMsg)
			}
		})
	}
}

// hang makes a node look SIGSTOPped: its subscriptions stay on the broker
// but nothing it receives is processed any more.
func hang(t *testing.T, nc *nats.Conn) {
	t.Helper()
	// A second subscriber on the node's subject that never answers stands
	// for the stopped process; the real one is unsubscribed so that only
	// silence is left.
	stuck, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Error(err)
		return
	}
	t.Cleanup(stuck.Close)
	if _, err := stuck.SubscribeSync(rpc.DirectSubject(rpc.DefaultCollective, "e1")); err != nil {
		t.Error(err)
	}
	_ = stuck.Flush()
	nc.Close()
}

// TestBrokerLost: a broker shut down for good during a call ends the call
// within the watch's grace with an error naming the broker, not the node;
// a broker that comes back in time is a reconnect, not a loss.
func TestBrokerLost(t *testing.T) {
	dir := t.TempDir()
	s := natstest.Start(t)
	url := s.ClientURL()
	started := make(chan string, 1)
	node := startSlowNode(t, url, "e1", started)
	w := rpc.NewBrokerWatch(700 * time.Millisecond)
	events := make(chan fleet.BrokerEvent, 8)
	defer w.Notify(func(e fleet.BrokerEvent) { events <- e })()
	c := slowClient(t, url, rpc.ClientOptions{Broker: w})
	// The restarted broker has an empty registry: learn e1's key now.
	if _, err := c.Discover(context.Background(), fleet.Filter{}, rpc.DiscoverOptions{}); err != nil {
		t.Fatal(err)
	}

	// A restart within the grace: disconnected, then reconnected.
	port := s.Addr().(*net.TCPAddr).Port
	s.Shutdown()
	s.WaitForShutdown()
	s2 := restartBroker(t, port, dir)
	for _, want := range []fleet.BrokerEventKind{fleet.BrokerDisconnected, fleet.BrokerReconnected} {
		if e := nextEvent(t, events); e.Kind != want || e.Broker != url {
			t.Fatalf("event %+v, want %s of %s", e, want, url)
		}
	}
	if w.Err() != nil {
		t.Fatalf("lost after a reconnect: %v", w.Err())
	}

	eventually(t, 5*time.Second, func() bool { return node.IsConnected() && node.Flush() == nil })

	// Gone for good during a call.
	go func() { <-started; s2.Shutdown() }()
	start := time.Now()
	res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "slow", Action: "wait", Targets: []string{"e1"}, Timeout: time.Minute})
	took := time.Since(start)
	t.Logf("call ended after %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, fleet.ErrBrokerLost) || !strings.Contains(err.Error(), "lost the broker "+url) {
		t.Fatalf("err %v, want lost the broker %s", err, url)
	}
	if res == nil || len(res.Missing) != 1 || took > 3*time.Second {
		t.Fatalf("result %+v after %s", res, took)
	}
	for _, want := range []fleet.BrokerEventKind{fleet.BrokerDisconnected, fleet.BrokerLost} {
		if e := nextEvent(t, events); e.Kind != want {
			t.Fatalf("event %+v, want %s", e, want)
		}
	}
	// Later calls fail at once, naming the broker.
	_, err = c.Call(context.Background(), fleet.CallRequest{Agent: "slow", Action: "wait", Targets: []string{"e1"}, Timeout: time.Minute})
	if !errors.Is(err, fleet.ErrBrokerLost) {
		t.Fatalf("after the loss: %v", err)
	}
}

// restartBroker starts a broker on port.
func restartBroker(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	o := &server.Options{ServerName: "orch-test-2", Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, JetStream: true, StoreDir: dir}
	s2, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s2.Start()
	if !s2.ReadyForConnections(10 * time.Second) {
		t.Fatal("restarted broker not ready")
	}
	t.Cleanup(s2.Shutdown)
	return s2
}

func nextEvent(t *testing.T, events <-chan fleet.BrokerEvent) fleet.BrokerEvent {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no broker event within 10s")
		return fleet.BrokerEvent{}
	}
}

// eventually polls cond until it holds or d passed.
func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
