package broker_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/rpc"
)

type pong struct{}

func (pong) Schema() *ddl.Agent {
	return &ddl.Agent{Name: "rpcutil", Version: "1", Actions: []*ddl.Action{{Name: "ping"}}}
}
func (pong) Handle(context.Context, *rpc.Call) (*rpc.Result, error) { return &rpc.Result{}, nil }

// TestClusterFailover forms a three-broker cluster, connects a node to one
// broker, stops that broker and checks that a call from a client on another
// broker still reaches the node.
func TestClusterFailover(t *testing.T) {
	var brokers []*broker.Broker
	var routes, listen []string
	for range 3 {
		addr := freePort(t)
		listen = append(listen, addr)
		routes = append(routes, "nats-route://"+addr)
	}
	for i := range 3 {
		b, err := broker.Start(broker.Config{
			Name: "b" + string(rune('a'+i)), Listen: "127.0.0.1:0", StoreDir: t.TempDir(),
			ClusterName: "test", ClusterListen: listen[i], Routes: routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Shutdown)
		brokers = append(brokers, b)
	}
	urls := []string{brokers[0].ClientURL(), brokers[1].ClientURL(), brokers[2].ClientURL()}
	ctx := context.Background()
	nodeConn, err := rpc.Connect(ctx, urls, "node", nats.DontRandomize())
	if err != nil {
		t.Fatal(err)
	}
	defer nodeConn.Close()
	if nodeConn.ConnectedUrl() != urls[0] {
		t.Fatalf("node connected to %s, want %s", nodeConn.ConnectedUrl(), urls[0])
	}
	info := fleet.NodeInfo{Identity: "n1", Collective: rpc.DefaultCollective, Agents: map[string]string{"rpcutil": "1"}}
	srv, err := rpc.NewServer(nodeConn, rpc.ServerOptions{Identity: "n1", Info: func() fleet.NodeInfo { return info }, Handlers: map[string]rpc.Handler{"rpcutil": pong{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	clientConn, err := rpc.Connect(ctx, []string{urls[2]}, "client")
	if err != nil {
		t.Fatal(err)
	}
	defer clientConn.Close()
	kp, _ := nkeys.CreateUser()
	c := rpc.NewClient(clientConn, kp, rpc.ClientOptions{NodeKeys: map[string]string{"n1": srv.PublicKey()}})
	call := func() bool {
		res, err := c.Call(ctx, fleet.CallRequest{Agent: "rpcutil", Action: "ping", Targets: []string{"n1"}, Timeout: time.Second})
		return err == nil && len(res.Replies) == 1 && res.Replies[0].OK()
	}
	waitFor(t, "call through the cluster", call)
	// The run history follows the cluster as the state buckets do: one
	// replica per broker, up to three.
	// (JetStream elects its meta leader after the routes are up.)
	waitFor(t, "opening the run history", func() bool {
		octx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := history.Open(octx, clientConn, rpc.DefaultCollective)
		return err == nil
	})
	js, _ := jetstream.New(clientConn)
	st, err := js.Stream(ctx, history.StreamName(rpc.DefaultCollective))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; cfg.Replicas != 3 || cfg.Storage != jetstream.FileStorage {
		t.Errorf("run history stream: %d replicas, %v storage; want 3 on file", cfg.Replicas, cfg.Storage)
	}
	brokers[0].Shutdown()
	waitFor(t, "call after the node's broker stopped", call)
	if u := nodeConn.ConnectedUrl(); u == urls[0] || u == "" {
		t.Errorf("node connection is on %q after its broker stopped", u)
	}
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not succeed within 15s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestListenDefaultsToLoopback(t *testing.T) {
	b, err := broker.Start(broker.Config{Listen: "0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	if u := b.ClientURL(); len(u) < 17 || u[:17] != "nats://127.0.0.1:" {
		t.Fatalf("client URL %s is not on loopback", u)
	}
}

// TestAuthConfig: a broker with a nats-server config file requiring a user
// refuses anonymous clients and accepts the configured one.
func TestAuthConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(conf, []byte("authorization {\n  users = [ { user: orch, password: s3cret } ]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", StoreDir: dir, ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	if nc, err := nats.Connect(b.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("anonymous client was accepted")
	}
	nc, err := rpc.Connect(context.Background(), []string{b.ClientURL()}, "t", nats.UserInfo("orch", "s3cret"))
	if err != nil {
		t.Fatalf("configured user refused: %v", err)
	}
	nc.Close()
	if _, err := broker.Start(broker.Config{ConfigFile: filepath.Join(dir, "missing.conf")}); err == nil {
		t.Fatal("a missing config file must be an error")
	}
}
