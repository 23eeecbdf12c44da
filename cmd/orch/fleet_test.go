package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleettest"
	"github.com/orch-fleet/orch/rpc"
)

// testFleet starts in-process node daemons trusting a fresh client key and
// returns the env for orch commands and a stop function per node.
func testFleet(t *testing.T, nodes map[string]string) (func(args ...string) (int, string, string), map[string]func(), string) {
	t.Helper()
	f := startFleet(t, nodes, nil)
	return f.orch, f.stops, f.url
}

// testFleetT is a test fleet: a broker, in-process nodes and a client key.
type testFleetT struct {
	url     string
	keyFile string
	dir     string
	stops   map[string]func()
	// orch runs an orch command in-process against the fleet.
	orch func(args ...string) (int, string, string)
}

// env returns an env for orch commands against the fleet.
func (f *testFleetT) env(out, errb *bytes.Buffer, signals <-chan os.Signal) *env {
	return &env{stdout: out, stderr: errb, signals: signals, getenv: func(k string) string {
		switch k {
		case "ORCH_SERVER":
			return f.url
		case "ORCH_KEY":
			return f.keyFile
		}
		return ""
	}}
}

// startFleet starts the nodes (identity -> cluster fact); extra, when set,
// returns more node config for an identity (provider blocks).
func startFleet(t *testing.T, nodes map[string]string, extra func(id string) string) *testFleetT {
	t.Helper()
	cfgs := map[string]string{}
	for id, cluster := range nodes {
		cfgs[id] = fmt.Sprintf("facts = { cluster = %q }\n", cluster)
		if extra != nil {
			cfgs[id] += extra(id)
		}
	}
	ft := fleettest.Start(t, cfgs)
	f := &testFleetT{url: ft.URL, keyFile: ft.KeyFile, dir: ft.Dir, stops: map[string]func(){}}
	for id := range nodes {
		f.stops[id] = func() { ft.Stop(id) }
	}
	f.orch = func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), f.env(&out, &errb, nil), args)
		return code, out.String(), errb.String()
	}
	return f
}

// natsConn connects to the test fleet's broker.
func natsConn(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestFleetCommands(t *testing.T) {
	orch, stops, url := testFleet(t, map[string]string{"web1": "alfa", "web2": "alfa", "web3": "bravo"})
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
		absent   []string
	}{
		{"ping all", []string{"ping"}, 0, []string{"web1 ", "web2 ", "web3 ", "3/3 nodes answered OK"}, nil},
		{"ping by fact", []string{"ping", "-F", "cluster=alfa"}, 0, []string{"2/2 nodes answered OK"}, []string{"web3"}},
		{"ping by regex fact", []string{"ping", "-F", "cluster=/rav/"}, 0, []string{"web3", "1/1"}, []string{"web1"}},
		{"ping by identity regex", []string{"ping", "-I", "/web[12]/", "--discovery", "broadcast"}, 0, []string{"2/2"}, nil},
		{"ping named nodes", []string{"ping", "-I", "web1", "-I", "web3"}, 0, []string{"web1 ", "web3 ", "2/2 nodes answered OK"}, []string{"web2"}},
		{"ping a named node that does not exist", []string{"ping", "-I", "web1", "-I", "missing1"}, 1, []string{"web1 ", "1/2 nodes answered OK", "no answer: missing1"}, []string{"web2"}},
		{"ping named nodes by broadcast", []string{"ping", "-I", "web2", "-I", "missing1", "--discovery", "broadcast"}, 1, []string{"1/2 nodes answered OK", "no answer: missing1"}, []string{"web1"}},
		{"named node the other filters leave out", []string{"ping", "-I", "web1", "-I", "web3", "-F", "cluster=alfa"}, 0, []string{"1/1 nodes answered OK"}, []string{"web3"}},
		{"named and regex", []string{"ping", "-I", "missing1", "-I", "/web[23]/"}, 1, []string{"web2 ", "web3 ", "2/3 nodes answered OK", "no answer: missing1"}, []string{"web1"}},
		{"rpc named nodes, json", []string{"rpc", "rpcutil", "ping", "-I", "web2", "-I", "missing1", "--json"}, 1, []string{`"discovered": 2`, `"missing1"`}, nil},
		{"discover", []string{"discover", "-F", "cluster=bravo"}, 0, []string{"web3"}, []string{"web1"}},
		{"facts", []string{"facts", "cluster"}, 0, []string{"alfa", "found 2 times", "bravo", "found 1 times"}, nil},
		{"rpc", []string{"rpc", "rpcutil", "get_fact", "fact=cluster", "-F", "cluster=bravo"}, 0, []string{`"value":"bravo"`}, nil},
		{"rpc missing input", []string{"rpc", "rpcutil", "get_fact"}, 2, nil, nil},
		{"rpc unknown action", []string{"rpc", "rpcutil", "reboot"}, 2, nil, nil},
		{"describe", []string{"rpc", "--describe", "rpcutil"}, 0, []string{"Action get_fact (read-only)", "fact", "required"}, nil},
		{"no match", []string{"ping", "-F", "cluster=charlie"}, 1, nil, nil},
		{"bad filter", []string{"ping", "-F", "cpus>=many"}, 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := orch(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}
	// A node that stops cleanly deregisters: it is no longer discovered.
	stops["web2"]()
	code, out, _ := orch("ping", "-F", "cluster=alfa")
	if code != 0 || !strings.Contains(out, "1/1") {
		t.Fatalf("after web2 deregistered: exit %d\n%s", code, out)
	}
	// A node that died without deregistering stays in the registry until
	// its entry expires: the ping names it as not answering and fails.
	if err := rpc.Register(context.Background(), natsConn(t, url), fleet.NodeInfo{Identity: "ghost", Collective: rpc.DefaultCollective, Facts: map[string]any{"cluster": "alfa"}, Agents: map[string]string{"rpcutil": "1"}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	code, out, _ = orch("ping", "-F", "cluster=alfa", "--timeout", "1s")
	if code != 1 || !strings.Contains(out, "no answer: ghost") || !strings.Contains(out, "1/2 nodes answered OK") {
		t.Fatalf("with a dead node: exit %d\n%s", code, out)
	}
}
