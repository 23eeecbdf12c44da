package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/node"
	"github.com/orch-fleet/orch/rpc"
)

func newKey(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNode runs a node daemon in-process from a config text.
func startNode(t *testing.T, config string) (cancel func()) {
	t.Helper()
	return startNodeWith(t, config, node.Options{Version: "test"})
}

// startNodeWith runs a node daemon in-process from a config text and options.
func startNodeWith(t *testing.T, config string, o node.Options) (cancel func()) {
	t.Helper()
	path := writeFile(t, filepath.Join(t.TempDir(), "node.hcl"), config)
	cfg, diags := node.LoadConfig(path)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	n, diags := node.New(cfg, o)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, nil) }()
	stopped := false
	cancel = func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		if err := <-done; err != nil {
			t.Errorf("node run: %v", err)
		}
	}
	t.Cleanup(cancel)
	return cancel
}

func client(t *testing.T, url string, kp nkeys.KeyPair, name string) *rpc.Client {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return rpc.NewClient(nc, kp, rpc.ClientOptions{Name: name})
}

// waitNodes polls the registry until want identities are registered.
func waitNodes(t *testing.T, c *rpc.Client, f fleet.Filter, want int) []fleet.NodeInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes, err := c.Discover(context.Background(), f, rpc.DiscoverOptions{Method: rpc.DiscoverRegistry})
		if err == nil && len(nodes) == want {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry: want %d nodes, got %d (%v)", want, len(nodes), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPolicyAndAudit(t *testing.T) {
	s := natstest.Start(t)
	opsKey, opsPub := newKey(t)
	roKey, roPub := newKey(t)
	strangerKey, _ := newKey(t)
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	startNode(t, fmt.Sprintf(`
identity  = "web1"
servers   = [%q]
data_dir  = %q
audit_log = %q
facts     = { cluster = "alfa" }
client "ops" { key = %q }
client "readonly" { key = %q }
policy {
  default = "deny"
  rule "allow" {
    clients = ["ops"]
    actions = ["*"]
  }
  rule "allow" {
    clients = ["readonly"]
    actions = ["rpcutil.ping", "rpcutil.get_*"]
  }
}
`, natstest.URL(s), dir, audit, opsPub, roPub))
	ops := client(t, natstest.URL(s), opsKey, "ops-user")
	waitNodes(t, ops, fleet.Filter{}, 1)
	tests := []struct {
		name   string
		key    nkeys.KeyPair
		action string
		want   fleet.Status
	}{
		{"ops may inventory", opsKey, "inventory", fleet.StatusOK},
		{"readonly may ping", roKey, "ping", fleet.StatusOK},
		{"readonly may not inventory", roKey, "inventory", fleet.StatusUnauthorised},
		{"untrusted key", strangerKey, "ping", fleet.StatusUnauthorised},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t, natstest.URL(s), tt.key, strings.ReplaceAll(tt.name, " ", "-"))
			res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "rpcutil", Action: tt.action, Targets: []string{"web1"}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Replies) != 1 || res.Replies[0].Status != tt.want {
				t.Fatalf("replies %+v, want status %s", res.Replies, tt.want)
			}
			// The audit log has a line for this request with the same status.
			deadline := time.Now().Add(5 * time.Second)
			for {
				if line, ok := findAudit(t, audit, res.Replies[0].RequestID); ok {
					if line.Status != tt.want || line.Action != tt.action || line.CallerName != strings.ReplaceAll(tt.name, " ", "-") {
						t.Errorf("audit line %+v", line)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no audit line for the request")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func findAudit(t *testing.T, path, id string) (rpc.AuditEntry, bool) {
	f, err := os.Open(path)
	if err != nil {
		return rpc.AuditEntry{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e rpc.AuditEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.RequestID == id {
			return e, true
		}
	}
	return rpc.AuditEntry{}, false
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"syntax", `identity = `, "Missing expression"},
		{"unknown attribute", `colour = "red"`, `Unsupported argument`},
		{"bad client key", `client "x" { key = "nope" }`, "not an nkey user public key"},
		{"bad policy", `policy { default = "maybe" }`, "want \"allow\" or \"deny\""},
		{"bad identity", `identity = "a_b"`, "RFC 1123"},
		{"non-ascii identity", `identity = "wéb1"`, "RFC 1123"},
		{"colon identity", `identity = "web:1"`, "RFC 1123"},
		{"empty label", `identity = "web..1"`, "empty label"},
		{"bad interval", `register_interval = "soon"`, "positive duration"},
		{"missing facts file", `facts_file = "/nonexistent/facts.yaml"`, "reading facts file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(t.TempDir(), "node.hcl"), tt.config)
			_, diags := node.LoadConfig(path)
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
				t.Fatalf("diags %q, want %q", diags.Error(), tt.want)
			}
		})
	}
	path := writeFile(t, filepath.Join(t.TempDir(), "node.hcl"), "provider \"nosuch\" {}\n")
	cfg, diags := node.LoadConfig(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, diags := node.New(cfg, node.Options{}); !diags.HasErrors() || !strings.Contains(diags.Error(), `no provider "nosuch"`) || diags[0].Subject == nil {
		t.Fatalf("unknown provider: %v", diags)
	}
}

// buildOrch builds the orch binary once per test binary.
func buildOrch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orch")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/orch").CombinedOutput()
	if err != nil {
		t.Fatalf("building orch: %v\n%s", err, out)
	}
	return bin
}

func TestAgentProcess(t *testing.T) {
	s := natstest.Start(t)
	bin := buildOrch(t)
	kp, pub := newKey(t)
	dir := t.TempDir()
	facts := writeFile(t, filepath.Join(dir, "facts.yaml"), "cluster: alfa\ncpus: 4\n")
	cfg := writeFile(t, filepath.Join(dir, "node.hcl"), fmt.Sprintf(`
identity   = "proc1"
servers    = [%q]
data_dir   = %q
facts_file = "facts.yaml"
classes    = ["web"]
client "ops" { key = %q }
`, natstest.URL(s), dir, pub))
	cmd := exec.Command(bin, "agent", "--config", cfg)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := client(t, natstest.URL(s), kp, "tester")
	nodes := waitNodes(t, c, fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "alfa"}}}, 1)
	if nodes[0].Identity != "proc1" || nodes[0].PublicKey == "" {
		t.Fatalf("registry entry %+v", nodes[0])
	}
	res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "rpcutil", Action: "ping", Targets: []string{"proc1"}, Timeout: 5 * time.Second})
	if err != nil || len(res.Replies) != 1 || !res.Replies[0].OK() {
		t.Fatalf("ping: %v %+v", err, res)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS") {
				t.Logf("orch agent %s", l)
			}
		}
	}
	// SIGHUP re-reads the facts file.
	writeFile(t, facts, "cluster: bravo\ncpus: 4\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitNodes(t, c, fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "bravo"}}}, 1)
	// SIGTERM: the node deregisters and exits 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
	waitNodes(t, c, fleet.Filter{}, 0)
}
