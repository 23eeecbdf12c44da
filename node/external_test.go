package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
)

// installAgents copies the example agents (examples/agents/agents.d) to a
// new agents directory with the modes an install would give them.
func installAgents(t *testing.T, names ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agents.d")
	for _, name := range names {
		installAgent(t, dir, filepath.Join("..", "examples", "agents", "agents.d", name))
	}
	return dir
}

// installAgent copies one agent directory into dir: the executable 0755,
// the rest 0644.
func installAgent(t *testing.T, dir, src string) {
	t.Helper()
	name := filepath.Base(src)
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if e.Name() == name {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExternalAgents runs the example agents (shell and Python) as real
// processes behind an in-process node on a real broker: registry entry,
// schema checks, replies, no-op, audit, and SIGHUP adding and removing
// agents.
func TestExternalAgents(t *testing.T) {
	s := natstest.Start(t)
	kp, pub := newKey(t)
	dir := t.TempDir()
	agents := installAgents(t, "motd", "ini")
	reload := runNodeIn(t, fmt.Sprintf(`
identity   = "ext1"
servers    = [%q]
data_dir   = %q
audit_log  = %q
agents_dir = %q
client "ops" { key = %q }
`, natstest.URL(s), dir, filepath.Join(dir, "audit.log"), agents, pub), dir)
	c := client(t, natstest.URL(s), kp, "tester")
	nodes := waitNodes(t, c, fleet.Filter{Agents: []string{"motd", "ini"}}, 1)
	if v := nodes[0].Agents["motd"]; v != "1.0.0" {
		t.Fatalf("registry agents %v", nodes[0].Agents)
	}
	if !strings.Contains(string(nodes[0].Schemas["ini"]), `"name":"get"`) || nodes[0].Schemas["rpcutil"] != nil {
		t.Fatalf("registry schemas %v", nodes[0].Schemas)
	}
	motd := filepath.Join(dir, "motd")
	ini := filepath.Join(dir, "app.ini")
	steps := []struct {
		name          string
		agent, action string
		input         map[string]any
		noop          bool
		status        fleet.Status
		changed       bool
		message       string
	}{
		{"shell: no-op", "motd", "set", map[string]any{"content": "hello", "path": motd}, true, fleet.StatusOK, true, "would update"},
		{"shell: set", "motd", "set", map[string]any{"content": "hello", "path": motd}, false, fleet.StatusOK, true, "updated the message of the day"},
		{"shell: set again", "motd", "set", map[string]any{"content": "hello", "path": motd}, false, fleet.StatusOK, false, "already up to date"},
		{"shell: cannot write", "motd", "set", map[string]any{"content": "x", "path": "/nonexistent/motd"}, false, fleet.StatusAborted, false, "cannot write in /nonexistent"},
		{"schema: pattern", "motd", "set", map[string]any{"content": "x", "path": "motd"}, false, fleet.StatusInvalidInput, false, "does not match"},
		{"schema: missing", "motd", "set", map[string]any{}, false, fleet.StatusMissingInput, false, `missing required input "content"`},
		{"schema: action", "motd", "unset", nil, false, fleet.StatusUnknownAction, false, "has no action"},
		{"python: set", "ini", "set", map[string]any{"file": ini, "section": "app", "key": "port", "value": "8080"}, false, fleet.StatusOK, true, "set port to '8080'"},
		{"python: get", "ini", "get", map[string]any{"file": ini, "section": "app", "key": "port"}, false, fleet.StatusOK, false, "port = 8080"},
		{"python: own check", "ini", "set", map[string]any{"file": ini, "section": "a]b", "key": "k", "value": "v"}, false, fleet.StatusInvalidInput, false, "single lines"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := callOne(t, c, st.agent, st.action, st.input, st.noop)
			if r.Status != st.status || r.Changed != st.changed || !strings.Contains(r.Message, st.message) {
				t.Fatalf("reply %s changed=%v %q, want %s changed=%v %q", r.Status, r.Changed, r.Message, st.status, st.changed, st.message)
			}
		})
	}
	if b, err := os.ReadFile(motd); err != nil || string(b) != "hello\n" {
		t.Fatalf("motd file %q, %v", b, err)
	}
	audit, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil || strings.Count(string(audit), `"agent":"motd"`) != 7 || strings.Count(string(audit), `"agent":"ini"`) != 3 {
		t.Fatalf("audit log %s, %v: want every call", audit, err)
	}

	// SIGHUP: ini removed, hello added.
	if err := os.RemoveAll(filepath.Join(agents, "ini")); err != nil {
		t.Fatal(err)
	}
	hello := filepath.Join(t.TempDir(), "hello")
	if err := os.MkdirAll(hello, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(hello, "schema.json"), `{"name":"hello","version":"2","actions":[{"name":"hi"}]}`)
	writeFile(t, filepath.Join(hello, "hello"), "#!/bin/sh\necho '{\"status\":\"ok\",\"message\":\"hi from '$ORCH_NODE'\"}'\n")
	if err := os.Chmod(filepath.Join(hello, "hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	installAgent(t, agents, hello)
	reload()
	waitNodes(t, c, fleet.Filter{Agents: []string{"motd", "hello"}}, 1)
	if r := callOne(t, c, "hello", "hi", nil, false); r.Status != fleet.StatusOK || r.Message != "hi from ext1" {
		t.Fatalf("hello.hi: %+v", r)
	}
	if r := callOne(t, c, "ini", "get", map[string]any{"file": ini, "section": "app", "key": "port"}, false); r.Status != fleet.StatusUnknownAgent {
		t.Fatalf("ini after removal: %+v", r)
	}
}

// callOne calls agent.action on ext1 and returns its reply.
func callOne(t *testing.T, c interface {
	Call(context.Context, fleet.CallRequest) (*fleet.CallResult, error)
}, agent, action string, input map[string]any, noop bool) *fleet.Reply {
	t.Helper()
	res, err := c.Call(context.Background(), fleet.CallRequest{Agent: agent, Action: action, Input: input, NoOp: noop, Targets: []string{"ext1"}, Timeout: 10 * time.Second})
	if err != nil || len(res.Replies) != 1 {
		t.Fatalf("%s.%s: %v %+v", agent, action, err, res)
	}
	return res.Replies[0]
}
