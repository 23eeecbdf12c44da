package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/node"
	"github.com/orch-fleet/orch/rpc"
)

// syncBuffer is a bytes.Buffer safe for the node's logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runNode runs the node of the config file path with a logger writing to
// log; it returns the reload channel and Run's result channel.
func runNode(t *testing.T, path string, log *syncBuffer) (chan<- struct{}, <-chan error) {
	t.Helper()
	cfg, diags := node.LoadConfig(path)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	n, diags := node.New(cfg, node.Options{Version: "test", Logger: slog.New(slog.NewTextHandler(log, nil))})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{}, 1)
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() { done <- n.Run(ctx, reload); close(finished) }()
	t.Cleanup(func() { cancel(); <-finished })
	return reload, done
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

func ping(t *testing.T, c *rpc.Client, id string) *fleet.Reply {
	t.Helper()
	res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "rpcutil", Action: "ping", Targets: []string{id}, Timeout: 5 * time.Second})
	if err != nil || len(res.Replies) != 1 {
		t.Fatalf("ping %s: %v %+v", id, err, res)
	}
	return res.Replies[0]
}

// TestReplayAfterRestart: a captured signed request replayed after the
// agent restarted (same data dir) is refused; the persistent replay guard
// in the data dir still holds its id.
func TestReplayAfterRestart(t *testing.T) {
	s := natstest.Start(t)
	kp, pub := newKey(t)
	dir := t.TempDir()
	config := fmt.Sprintf("identity = \"web1\"\nservers = [%q]\ndata_dir = %q\nclient \"ops\" { key = %q }\n", natstest.URL(s), dir, pub)
	stop := startNode(t, config)
	c := client(t, natstest.URL(s), kp, "ops")
	waitNodes(t, c, fleet.Filter{}, 1)
	req := &rpc.Request{Version: rpc.ProtocolVersion, ID: rpc.NewRequestID(), SenderName: "ops", Collective: rpc.DefaultCollective,
		Agent: "rpcutil", Action: "ping", Time: time.Now().UTC(), TTL: time.Hour}
	if err := rpc.Sign(req, kp); err != nil {
		t.Fatal(err)
	}
	captured, _ := json.Marshal(req)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	send := func() fleet.Reply {
		m, err := nc.Request(rpc.DirectSubject(rpc.DefaultCollective, "web1"), captured, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var rep fleet.Reply
		_ = json.Unmarshal(m.Data, &rep)
		return rep
	}
	if rep := send(); !rep.OK() {
		t.Fatalf("first send: %s %q", rep.Status, rep.Message)
	}
	stop()
	startNode(t, config)
	waitNodes(t, c, fleet.Filter{}, 1)
	if rep := send(); rep.Status != fleet.StatusUnauthorised || !strings.Contains(rep.Message, "before this agent started") {
		t.Fatalf("replay after restart: %s %q", rep.Status, rep.Message)
	}
	g, err := rpc.OpenFileReplayGuard(filepath.Join(dir, "replay.guard"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if fresh, err := g.Add(req.ID, time.Now().Add(time.Hour)); fresh || err != nil {
		t.Fatalf("the replay guard forgot the request: fresh %v, err %v", fresh, err)
	}
}

// TestDuplicateIdentity: a second agent with a live identity refuses to
// start and leaves the first serving; a stopping agent leaves a
// registration written by another instance in place.
func TestDuplicateIdentity(t *testing.T) {
	s := natstest.Start(t)
	kp, pub := newKey(t)
	cfg := func(dir string) string {
		return writeFile(t, filepath.Join(dir, "node.hcl"), fmt.Sprintf("identity = \"web.1\"\nservers = [%q]\ndata_dir = %q\nclient \"ops\" { key = %q }\n", natstest.URL(s), dir, pub))
	}
	var log syncBuffer
	runNode(t, cfg(t.TempDir()), &log)
	c := client(t, natstest.URL(s), kp, "ops")
	waitNodes(t, c, fleet.Filter{}, 1)
	_, done := runNode(t, cfg(t.TempDir()), &log)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "identity in use") {
			t.Fatalf("second agent: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second agent with the same identity started")
	}
	if rep := ping(t, c, "web.1"); !rep.OK() {
		t.Fatalf("first agent after the duplicate: %s %q", rep.Status, rep.Message)
	}

	// Another instance's entry under web2's identity survives web2's stop.
	dir := t.TempDir()
	stop := startNode(t, fmt.Sprintf("identity = \"web2\"\nservers = [%q]\ndata_dir = %q\nclient \"ops\" { key = %q }\n", natstest.URL(s), dir, pub))
	nodes := waitNodes(t, c, fleet.Filter{Identities: []string{"web2"}}, 1)
	intruder := nodes[0]
	intruder.Instance = "intruder"
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := rpc.Register(context.Background(), nc, intruder, time.Minute); err != nil {
		t.Fatal(err)
	}
	stop()
	got := waitNodes(t, c, fleet.Filter{Identities: []string{"web2"}}, 1)
	if got[0].Instance != "intruder" {
		t.Fatalf("registry entry %+v", got[0])
	}
}

// TestHostNameIdentities: agents named by host names with dots and
// capitals register, are discovered and answer; their subjects and keys
// are the escaped identity.
func TestHostNameIdentities(t *testing.T) {
	s := natstest.Start(t)
	kp, pub := newKey(t)
	ids := []string{"web.3", "db1.Example.com", "plain-1"}
	for _, id := range ids {
		startNode(t, fmt.Sprintf("identity = %q\nservers = [%q]\ndata_dir = %q\nclient \"ops\" { key = %q }\n", id, natstest.URL(s), t.TempDir(), pub))
	}
	c := client(t, natstest.URL(s), kp, "ops")
	waitNodes(t, c, fleet.Filter{}, len(ids))
	for _, id := range ids {
		if rep := ping(t, c, id); !rep.OK() || rep.Identity != id {
			t.Errorf("ping %s: %+v", id, rep)
		}
	}
	if got := rpc.DirectSubject("orch", "db1.Example.com"); got != "orch.node.db1_Example_com" {
		t.Errorf("subject %s", got)
	}
	for _, id := range []string{"", "web_1", "wéb1", "web:1", ".web", "web.", "-web", strings.Repeat("a", 64), "a b"} {
		if err := fleet.ValidateIdentity(id); err == nil {
			t.Errorf("identity %q accepted", id)
		}
	}
}

// TestReload: SIGHUP's reload adds a trusted client and a policy rule,
// reopens a rotated audit log and logs what changed; a config that does
// not parse keeps the running one and logs the error with file:line.
func TestReload(t *testing.T) {
	s := natstest.Start(t)
	ops, opsPub := newKey(t)
	ro, roPub := newKey(t)
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	base := fmt.Sprintf("identity = \"web1\"\nservers = [%q]\ndata_dir = %q\naudit_log = %q\nclient \"ops\" { key = %q }\n", natstest.URL(s), dir, audit, opsPub)
	path := writeFile(t, filepath.Join(dir, "node.hcl"), base)
	var log syncBuffer
	reload, _ := runNode(t, path, &log)
	opsC, roC := client(t, natstest.URL(s), ops, "ops"), client(t, natstest.URL(s), ro, "ro")
	waitNodes(t, opsC, fleet.Filter{}, 1)
	if rep := ping(t, roC, "web1"); rep.Status != fleet.StatusUnauthorised {
		t.Fatalf("ro before reload: %+v", rep)
	}
	writeFile(t, path, base+fmt.Sprintf("client \"ro\" { key = %q }\npolicy {\n  default = \"deny\"\n  rule \"allow\" {\n    clients = [\"ops\"]\n    actions = [\"*\"]\n  }\n  rule \"allow\" {\n    clients = [\"ro\"]\n    actions = [\"rpcutil.ping\"]\n  }\n}\n", roPub))
	if err := os.Rename(audit, audit+".1"); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	eventually(t, 5*time.Second, "reloaded", func() bool { return strings.Contains(log.String(), "msg=reloaded") })
	for _, want := range []string{"trusted clients changed", "ro=" + roPub, "policy changed", "audit log reopened"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	rep := ping(t, roC, "web1")
	if !rep.OK() {
		t.Fatalf("ro after reload: %+v", rep)
	}
	eventually(t, 5*time.Second, "audit in the reopened file", func() bool { _, ok := findAudit(t, audit, rep.RequestID); return ok })
	if res, _ := roC.Call(context.Background(), fleet.CallRequest{Agent: "rpcutil", Action: "inventory", Targets: []string{"web1"}, Timeout: 5 * time.Second}); len(res.Replies) != 1 || res.Replies[0].Status != fleet.StatusUnauthorised {
		t.Fatalf("policy after reload: %+v", res)
	}
	writeFile(t, path, base+"client \"broken\" {\n  key = \n}\n")
	reload <- struct{}{}
	eventually(t, 5*time.Second, "reload error logged", func() bool { return strings.Contains(log.String(), "keeping the running one") })
	if !strings.Contains(log.String(), "node.hcl:7") {
		t.Errorf("the error does not name file:line:\n%s", log.String())
	}
	if rep := ping(t, roC, "web1"); !rep.OK() {
		t.Fatalf("a broken config replaced the running one: %+v", rep)
	}
}
