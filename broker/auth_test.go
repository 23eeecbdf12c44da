package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// authFleet is a broker configured by GenerateAuth for one client and the
// nodes web1 and web2 (agents rpcutil and nrpe).
type authFleet struct {
	url              string
	client, web1, w2 nkeys.KeyPair
}

func startAuthBroker(t *testing.T) *authFleet {
	t.Helper()
	f := &authFleet{client: newKey(t), web1: newKey(t), w2: newKey(t)}
	agents := []string{"rpcutil", "nrpe"}
	conf, err := broker.GenerateAuth(broker.AuthConfig{
		Clients: []broker.AuthClient{{Name: "ops", Key: pub(t, f.client)}},
		Nodes: []broker.AuthNode{
			{Identity: "web1", Key: pub(t, f.web1), Agents: agents},
			{Identity: "web2", Key: pub(t, f.w2), Agents: agents},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), ConfigFile: path})
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	t.Cleanup(b.Shutdown)
	f.url = b.ClientURL()
	return f
}

func newKey(t *testing.T) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func pub(t *testing.T, kp nkeys.KeyPair) string {
	t.Helper()
	p, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// conn connects with kp (and a node's inbox prefix, when identity is
// set) and returns the connection and its asynchronous errors.
func (f *authFleet) conn(t *testing.T, kp nkeys.KeyPair, identity string) (*nats.Conn, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	opts := []nats.Option{nats.Nkey(pub(t, kp), kp.Sign), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	})}
	if identity != "" {
		opts = append(opts, nats.CustomInboxPrefix(rpc.NodeInboxPrefix(rpc.DefaultCollective, identity)))
	}
	nc, err := rpc.Connect(context.Background(), []string{f.url}, "test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// violation waits for the broker's permissions violation of what.
func violation(t *testing.T, nc *nats.Conn, errs <-chan error, what string) {
	t.Helper()
	_ = nc.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("%s: got %v, want a permissions violation", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the broker allowed it", what)
	}
}

// TestGeneratedAuthConfinesNodes attacks a broker configured by
// GenerateAuth with a node's key: each attack is refused by the broker,
// while the node's own work (answering, registering) goes through.
func TestGeneratedAuthConfinesNodes(t *testing.T) {
	f := startAuthBroker(t)
	ctx := context.Background()
	web1, web1Errs := f.conn(t, f.web1, "web1")
	web2, _ := f.conn(t, f.w2, "web2")
	client, _ := f.conn(t, f.client, "")

	// Allowed: both nodes register; web2 answers a client's request.
	for _, n := range []struct {
		nc *nats.Conn
		id string
	}{{web1, "web1"}, {web2, "web2"}} {
		info := fleet.NodeInfo{Identity: n.id, Collective: rpc.DefaultCollective}
		if err := rpc.Register(ctx, n.nc, info, time.Minute); err != nil {
			t.Fatalf("registering %s: %v", n.id, err)
		}
	}
	if _, err := web2.Subscribe(rpc.DirectSubject(rpc.DefaultCollective, "web2"), func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
		t.Fatal(err)
	}
	_ = web2.Flush()
	if m, err := client.Request(rpc.DirectSubject(rpc.DefaultCollective, "web2"), nil, 5*time.Second); err != nil || string(m.Data) != "ok" {
		t.Fatalf("client -> web2: %v", err)
	}

	attacks := map[string]func() error{
		"publish a request to another node": func() error {
			return web1.Publish(rpc.DirectSubject(rpc.DefaultCollective, "web2"), []byte("{}"))
		},
		"publish a broadcast request": func() error {
			return web1.Publish(rpc.BroadcastSubject(rpc.DefaultCollective, "nrpe"), []byte("{}"))
		},
		"subscribe to another node's subject": func() error {
			_, err := web1.SubscribeSync(rpc.DirectSubject(rpc.DefaultCollective, "web2"))
			return err
		},
		"subscribe to everything": func() error { _, err := web1.SubscribeSync(">"); return err },
		"subscribe to another agent's broadcasts": func() error {
			_, err := web1.SubscribeSync(rpc.BroadcastSubject(rpc.DefaultCollective, "haproxy"))
			return err
		},
		"subscribe to clients' replies": func() error { _, err := web1.SubscribeSync("_INBOX.>"); return err },
		"take a run lock": func() error {
			return web1.Publish("$KV."+rpc.LockBucket(rpc.DefaultCollective)+".deploy", []byte("x"))
		},
	}
	for name, attack := range attacks {
		t.Run(name, func(t *testing.T) {
			if err := attack(); err != nil {
				t.Fatal(err)
			}
			violation(t, web1, web1Errs, name)
		})
	}
	t.Run("write another node's registry entry", func(t *testing.T) {
		js, err := jetstream.New(web1)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(ctx, rpc.RegistryBucket(rpc.DefaultCollective))
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := kv.Put(pctx, "web2", []byte("forged")); err == nil {
			t.Fatal("web1 overwrote web2's registry entry")
		}
		if err := kv.Purge(pctx, "web2"); err == nil {
			t.Fatal("web1 purged web2's registry entry")
		}
		cl, _ := jetstream.New(client)
		ckv, err := cl.KeyValue(ctx, rpc.RegistryBucket(rpc.DefaultCollective))
		if err != nil {
			t.Fatal(err)
		}
		e, err := ckv.Get(ctx, "web2")
		if err != nil || !strings.Contains(string(e.Value()), `"web2"`) {
			t.Fatalf("web2's entry after the attack: %v", err)
		}
	})
}

// TestGeneratedAuthRefusesStrangers: no anonymous connection, no unknown
// key, and a client cannot write the registry.
func TestGeneratedAuthRefusesStrangers(t *testing.T) {
	f := startAuthBroker(t)
	ctx := context.Background()
	_, err := rpc.Connect(ctx, []string{f.url}, "anonymous")
	if !errors.Is(err, nats.ErrAuthorization) || !strings.Contains(err.Error(), "broker_nkey_file") {
		t.Errorf("anonymous: got %v, want an authorization violation naming broker_nkey_file", err)
	}
	stranger := newKey(t)
	if _, err := rpc.Connect(ctx, []string{f.url}, "stranger", nats.Nkey(pub(t, stranger), stranger.Sign)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("unknown key: got %v, want an authorization violation", err)
	}
	client, errs := f.conn(t, f.client, "")
	if err := client.Publish("$KV."+rpc.RegistryBucket(rpc.DefaultCollective)+".web1", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	violation(t, client, errs, "a client writing the registry")
}

// TestGenerateAuthRefuses covers the generator's own checks.
func TestGenerateAuthRefuses(t *testing.T) {
	k1, k2 := pub(t, newKey(t)), pub(t, newKey(t))
	cases := map[string]struct {
		c    broker.AuthConfig
		want string
	}{
		"no clients":   {broker.AuthConfig{}, "no client keys"},
		"bad key":      {broker.AuthConfig{Clients: []broker.AuthClient{{Name: "a", Key: "SUAB"}}}, "not an nkey user public key"},
		"shared key":   {broker.AuthConfig{Clients: []broker.AuthClient{{Name: "a", Key: k1}}, Nodes: []broker.AuthNode{{Identity: "n", Key: k1, Agents: []string{"rpcutil"}}}}, "same key"},
		"wildcard id":  {broker.AuthConfig{Clients: []broker.AuthClient{{Name: "a", Key: k1}}, Nodes: []broker.AuthNode{{Identity: "*", Key: k2, Agents: []string{"rpcutil"}}}}, "identity"},
		"no agents":    {broker.AuthConfig{Clients: []broker.AuthClient{{Name: "a", Key: k1}}, Nodes: []broker.AuthNode{{Identity: "n", Key: k2}}}, "no agents"},
		"wild agent":   {broker.AuthConfig{Clients: []broker.AuthClient{{Name: "a", Key: k1}}, Nodes: []broker.AuthNode{{Identity: "n", Key: k2, Agents: []string{">"}}}}, "agent"},
		"bad collect.": {broker.AuthConfig{Collective: "a.b", Clients: []broker.AuthClient{{Name: "a", Key: k1}}}, "collective"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := broker.GenerateAuth(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestRefusesOpenNetworkBroker: beyond loopback, a broker without
// authentication starts only with Insecure.
func TestRefusesOpenNetworkBroker(t *testing.T) {
	_, err := broker.Start(broker.Config{Listen: "0.0.0.0:0", StoreDir: t.TempDir()})
	if !errors.Is(err, broker.ErrUnauthenticated) || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("got %v, want ErrUnauthenticated naming --insecure", err)
	}
	var logged []string
	b, err := broker.Start(broker.Config{Listen: "0.0.0.0:0", StoreDir: t.TempDir(), Insecure: true,
		Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	if len(logged) == 0 || !strings.Contains(strings.Join(logged, "\n"), "INSECURE") {
		t.Errorf("no INSECURE warning logged: %q", logged)
	}
}

// TestGeneratedAuthLetsClientsRecordRuns: a client may write the run
// history (found by the chaos suite: every orch apply against a gen-auth
// broker warned that its run was not recorded, after a permissions
// violation and a timeout).
func TestGeneratedAuthLetsClientsRecordRuns(t *testing.T) {
	f := startAuthBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, errs := f.conn(t, f.client, "")
	js, err := jetstream.New(client)
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.DefaultCollective
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: c + "_runs", Subjects: []string{c + ".runs.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, c+".runs.r1.record", []byte("{}")); err != nil {
		t.Fatalf("recording a run: %v", err)
	}
	select {
	case err := <-errs:
		t.Fatalf("recording a run: %v", err)
	default:
	}
}
