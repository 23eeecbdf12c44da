package orch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch"
	"github.com/orch-fleet/orch/node"
)

// TestMain starts the fleet the examples and tests use.
func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "orch-sdk-test")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		stop, err := startFleet(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting the test fleet:", err)
			return 1
		}
		defer stop()
		return m.Run()
	}())
}

func startFleet(dir string) (func(), error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true, JetStream: true, StoreDir: filepath.Join(dir, "js")})
	if err != nil {
		return nil, err
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("broker not ready")
	}
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	keyFile := filepath.Join(dir, "client.nk")
	if err := os.WriteFile(keyFile, seed, 0o600); err != nil {
		return nil, err
	}
	os.Setenv("ORCH_SERVER", s.ClientURL())
	os.Setenv("ORCH_KEY", keyFile)
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan struct{}
	stop := func() {
		cancel()
		for _, ch := range done {
			<-ch
		}
		s.Shutdown()
	}
	for _, n := range []struct{ id, cluster, load string }{
		{"web1", "alfa", `echo "OK - load average: 0.10, 0.20, 0.30|load1=0.1;15;30;0"; exit 0`},
		{"web2", "alfa", `echo "CRITICAL - load average: 31.00, 12.00, 5.00|load1=31;15;30;0"; exit 2`},
		{"web3", "bravo", `echo "OK - load average: 0.10, 0.20, 0.30"; exit 0`},
	} {
		script := filepath.Join(dir, n.id+"-load.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\n"+n.load+"\n"), 0o755); err != nil {
			stop()
			return nil, err
		}
		cfg := fmt.Sprintf(`identity = %q
servers = [%q]
data_dir = %q
facts = { cluster = %q }
client "sdk" { key = %q }
provider "nrpe" {
  commands = { check_load = %q, check_state = "exit $(cat %s)" }
}
`, n.id, s.ClientURL(), filepath.Join(dir, n.id), n.cluster, pub, script, filepath.Join(dir, "state-"+n.id))
		_ = os.WriteFile(filepath.Join(dir, "state-"+n.id), []byte("0"), 0o644)
		path := filepath.Join(dir, n.id+".hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			stop()
			return nil, err
		}
		c, diags := node.LoadConfig(path)
		if diags.HasErrors() {
			stop()
			return nil, diags
		}
		nd, diags := node.New(c, node.Options{Version: "test"})
		if diags.HasErrors() {
			stop()
			return nil, diags
		}
		ch := make(chan struct{})
		done = append(done, ch)
		go func() { _ = nd.Run(ctx, nil); close(ch) }()
	}
	// Wait until the nodes are registered.
	fleet, err := orch.Connect(context.Background(), orch.Options{Servers: []string{s.ClientURL()}, KeyFile: keyFile})
	if err != nil {
		stop()
		return nil, err
	}
	defer fleet.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ids, err := fleet.Discover(context.Background(), orch.Filter{}); err == nil && len(ids) == 3 {
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("nodes did not register")
		}
	}
}

func setState(t *testing.T, id string, code int) {
	t.Helper()
	dir := filepath.Dir(os.Getenv("ORCH_KEY"))
	if err := os.WriteFile(filepath.Join(dir, "state-"+id), []byte(fmt.Sprint(code)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCall(t *testing.T) {
	fleet := connect()
	defer fleet.Close()
	ctx := context.Background()
	state := orch.Call{Agent: "nrpe", Action: "run", Input: map[string]any{"command": "check_state"}, Check: orch.NagiosOK, Timeout: 2 * time.Second}

	t.Run("a node failing", func(t *testing.T) {
		setState(t, "web2", 1)
		defer setState(t, "web2", 0)
		res, err := fleet.Call(ctx, state)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() || strings.Join(res.Failed(), ",") != "web2" || !strings.Contains(res.Nodes["web2"].Err, "WARNING (exit 1)") {
			t.Fatalf("failed %v: %+v", res.Failed(), res.Nodes["web2"])
		}
	})
	t.Run("retry until the node recovers", func(t *testing.T) {
		setState(t, "web3", 2)
		go func() { time.Sleep(300 * time.Millisecond); setState(t, "web3", 0) }()
		c := state
		c.Retry = orch.Retry{Timeout: 10 * time.Second, Interval: 100 * time.Millisecond}
		res, err := fleet.Call(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || res.Nodes["web3"].Attempts < 2 || res.Nodes["web1"].Attempts != 1 {
			t.Fatalf("web3 %+v web1 %+v", res.Nodes["web3"], res.Nodes["web1"])
		}
	})
	t.Run("any one fails over", func(t *testing.T) {
		setState(t, "web1", 2)
		defer setState(t, "web1", 0)
		c := state
		c.AnyOne, c.Nodes = true, []string{"web1", "web2", "web3"}
		res, err := fleet.Call(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		// The call starts from a random node (so that nodes share the
		// work) and fails over in order: exactly one of web2/web3 succeeds,
		// only web1 can have failed, and nodes after the winner are untried.
		ok := res.Succeeded()
		if !res.OK() || len(ok) != 1 || ok[0] == "web1" || (len(res.Failed()) > 0 && strings.Join(res.Failed(), ",") != "web1") {
			t.Fatalf("succeeded %v failed %v", ok, res.Failed())
		}
		tried := 0
		for _, nr := range res.Nodes {
			if nr.Attempts > 0 {
				tried++
			}
		}
		if tried != 1+len(res.Failed()) {
			t.Fatalf("%d nodes tried, want the winner and the failures only: %+v", tried, res.Nodes)
		}
	})
	t.Run("a node not answering", func(t *testing.T) {
		c := orch.Call{Agent: "rpcutil", Action: "ping", Nodes: []string{"web1", "web8"}, Timeout: 300 * time.Millisecond}
		res, err := fleet.Call(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() || strings.Join(res.NoAnswer(), ",") != "web8" {
			t.Fatalf("no answer %v", res.NoAnswer())
		}
	})
	t.Run("bad input is refused before sending", func(t *testing.T) {
		_, err := fleet.Call(ctx, orch.Call{Agent: "nrpe", Action: "run", Input: map[string]any{"command": "x; reboot"}})
		if err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("invalid playbook", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "bad.hcl")
		_ = os.WriteFile(p, []byte(`resource "rpcutil_pong" "x" {}`), 0o644)
		_, err := fleet.Apply(ctx, p, orch.ApplyOptions{})
		var pe *orch.PlaybookError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "bad.hcl:1") {
			t.Fatalf("got %v", err)
		}
	})
}
