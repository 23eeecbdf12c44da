package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/views"
	"github.com/orch-fleet/orch/rpc"
)

// applyPlaybook is the playbook of the end-to-end tests: discovery by fact,
// a ping, an NRPE check whose exit code each node reads from a state file
// (so a test can make a node fail and recover), a slow check and a last
// step whose expect judges each reply.
const applyPlaybook = `
variable "cluster" {
  type = string
  validation {
    condition     = contains(["alfa", "bravo"], var.cluster)
    error_message = "cluster must be alfa or bravo"
  }
}
variable "attempts" {
  type    = number
  default = 1
}
variable "slow" {
  type    = bool
  default = false
}
nodes "web" {
  fact = { cluster = var.cluster }
  min  = 1
}
resource "rpcutil_ping" "web" {
  targets = nodes.web
}
resource "nrpe_check" "state" {
  targets    = nodes.web
  command    = var.slow ? "check_slow" : "check_state"
  batch_size = 2
  retry {
    attempts = var.attempts
    interval = "200ms"
  }
  depends_on = [rpcutil_ping.web]
}
resource "rpc" "after" {
  targets    = nodes.web
  agent      = "rpcutil"
  action     = "get_fact"
  inputs     = { fact = "cluster" }
  expect     = reply.data.value == var.cluster
  depends_on = [nrpe_check.state]
}
`

// anyOnePlaybook calls the check on exactly one node, failing over.
const anyOnePlaybook = `
nodes "web" {
  fact = { cluster = "alfa" }
}
resource "nrpe_check" "one" {
  targets = nodes.web
  command = "check_state"
  any_one = true
}
`

// applyFleet starts web1-web3 (alfa) and web4 (bravo), each with NRPE
// commands reading their exit code from DIR/state-ID.
func applyFleet(t *testing.T) (*testFleetT, string, func(id string, code int)) {
	t.Helper()
	stateDir := t.TempDir()
	setState := func(id string, code int) {
		if err := os.WriteFile(filepath.Join(stateDir, "state-"+id), []byte(fmt.Sprint(code)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nodes := map[string]string{"web1": "alfa", "web2": "alfa", "web3": "alfa", "web4": "bravo"}
	for id := range nodes {
		setState(id, 0)
	}
	f := startFleet(t, nodes, func(id string) string {
		state := filepath.Join(stateDir, "state-"+id)
		return fmt.Sprintf(`provider "nrpe" {
  commands = {
    check_state = "c=$(cat %s); echo \"STATE $c on %s | state=$c;1;2\"; exit $c"
    check_slow  = "sleep 1; echo SLOW OK"
  }
}
`, state, id)
	})
	pb := filepath.Join(f.dir, "deploy.hcl")
	if err := os.WriteFile(pb, []byte(applyPlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "anyone.hcl"), []byte(anyOnePlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	return f, pb, setState
}

// events parses -json output.
func events(t *testing.T, out string) []engine.Event {
	t.Helper()
	var evs []engine.Event
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev engine.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON event: %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// find returns the events of a type (and resource, when given).
func find(evs []engine.Event, typ engine.EventType, resource string) []engine.Event {
	var out []engine.Event
	for _, ev := range evs {
		if ev.Type == typ && (resource == "" || ev.Resource == resource) {
			out = append(out, ev)
		}
	}
	return out
}

func TestApplyEndToEnd(t *testing.T) {
	f, pb, setState := applyFleet(t)
	orch := f.orch

	t.Run("success", func(t *testing.T) {
		report := filepath.Join(f.dir, "report.json")
		junit := filepath.Join(f.dir, "junit.xml")
		code, out, errOut := orch("apply", pb, "-var", "cluster=alfa", "-json", "--report", report, "--junit", junit)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		evs := events(t, out)
		if evs[0].Type != engine.EventRunStart || evs[0].Resources != 3 {
			t.Errorf("first event %+v", evs[0])
		}
		ns := find(evs, engine.EventNodeSet, "")
		if len(ns) != 1 || strings.Join(ns[0].Nodes, ",") != "web1,web2,web3" {
			t.Errorf("node set events %+v", ns)
		}
		if n := len(find(evs, engine.EventNodeResult, "nrpe_check.state")); n != 3 {
			t.Errorf("%d node results for the check, want 3", n)
		}
		last := evs[len(evs)-1]
		if last.Type != engine.EventRunEnd || last.Outcome != engine.OutcomeOK {
			t.Errorf("last event %+v", last)
		}
		var rep struct {
			Playbook  string `json:"playbook"`
			Outcome   string `json:"outcome"`
			Resources []struct {
				Addr  string `json:"addr"`
				Nodes []struct {
					Identity string          `json:"identity"`
					Data     json.RawMessage `json:"data"`
				} `json:"nodes"`
			} `json:"resources"`
		}
		b, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Outcome != "ok" || len(rep.Resources) != 3 || len(rep.Resources[1].Nodes) != 3 || !strings.Contains(strings.Join(strings.Fields(string(rep.Resources[1].Nodes[0].Data)), ""), `"exitcode":0`) {
			t.Errorf("report: %s", b)
		}
		var ju views.JUnitSuites
		b, _ = os.ReadFile(junit)
		if err := xml.Unmarshal(b, &ju); err != nil || ju.Tests != 3 || ju.Failures != 0 {
			t.Errorf("junit %v: %s", err, b)
		}
	})

	t.Run("plain output", func(t *testing.T) {
		code, out, _ := orch("apply", pb, "-var", "cluster=bravo")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.Contains(out, "nodes.web: 1 node(s) [fact cluster==bravo]: web4") {
			t.Errorf("no node set line:\n%s", out)
		}
		if l := lines[len(lines)-1]; !strings.Contains(l, "OK: 3 resource(s): 3 ok, 0 failed, 0 skipped") {
			t.Errorf("last line %q", l)
		}
	})

	t.Run("a node failing", func(t *testing.T) {
		setState("web2", 2)
		defer setState("web2", 0)
		report := filepath.Join(f.dir, "fail.xml")
		code, out, _ := orch("apply", pb, "-var", "cluster=alfa", "--junit", report)
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		for _, want := range []string{
			"nrpe_check.state: web2 failed: CRITICAL (exit 2): STATE 2 on web2",
			"nrpe_check.state: FAILED",
			"rpc.after: skipped: nrpe_check.state failed",
			"FAILED: 3 resource(s): 1 ok, 1 failed, 1 skipped",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		var ju views.JUnitSuites
		b, _ := os.ReadFile(report)
		if err := xml.Unmarshal(b, &ju); err != nil || ju.Failures != 1 || ju.Skipped != 1 {
			t.Errorf("junit %v: %s", err, b)
		}
	})

	t.Run("retry until the node recovers", func(t *testing.T) {
		setState("web3", 2)
		go func() {
			time.Sleep(700 * time.Millisecond)
			setState("web3", 0)
		}()
		code, out, _ := orch("apply", pb, "-var", "cluster=alfa", "-var", "attempts=30", "-json")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		evs := events(t, out)
		retries := find(evs, engine.EventResourceRetry, "nrpe_check.state")
		if len(retries) == 0 || strings.Join(retries[0].Nodes, ",") != "web3" {
			t.Fatalf("retries %+v", retries)
		}
		// Only the failing node is retried.
		for _, ev := range find(evs, engine.EventNodeResult, "nrpe_check.state") {
			if ev.Attempt > 1 && ev.Node != "web3" {
				t.Errorf("retried %s", ev.Node)
			}
		}
	})

	t.Run("plan changes nothing and reports problems", func(t *testing.T) {
		setState("web1", 1)
		defer setState("web1", 0)
		code, out, _ := orch("plan", pb, "-var", "cluster=alfa")
		if code != 1 || !strings.Contains(out, "web1         would fail now: WARNING (exit 1)") || !strings.Contains(out, "in 2 batches of 2: [web1 web2] [web3]") ||
			!strings.Contains(out, "3. rpc.after") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})

	t.Run("any one fails over", func(t *testing.T) {
		// Two of the three nodes fail: whichever the call starts with (a
		// random one, so that the nodes share the work), it ends on web2,
		// having tried only failing nodes before.
		setState("web1", 2)
		setState("web3", 2)
		defer setState("web1", 0)
		defer setState("web3", 0)
		starts := map[string]bool{}
		for i := 0; i < 12; i++ {
			code, out, _ := orch("apply", filepath.Join(f.dir, "anyone.hcl"), "-json")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			res := find(events(t, out), engine.EventNodeResult, "nrpe_check.one")
			last := res[len(res)-1]
			if last.Node != "web2" || !last.OK || len(res) > 3 {
				t.Fatalf("node results %+v", res)
			}
			for _, r := range res[:len(res)-1] {
				if r.OK || r.Node == "web2" {
					t.Fatalf("node results %+v", res)
				}
			}
			starts[res[0].Node] = true
		}
		if len(starts) < 2 {
			t.Errorf("12 runs all started on %v: the work is not shared", starts)
		}
	})

	t.Run("lock held by another run", func(t *testing.T) {
		locked := filepath.Join(f.dir, "locked.hcl")
		_ = os.WriteFile(locked, []byte("lock = \"webapp-${var.cluster}\"\n"+applyPlaybook), 0o644)
		nc := natsConn(t, f.url)
		release, err := rpc.AcquireLock(context.Background(), nc, rpc.DefaultCollective, "webapp-alfa", "alice@ops1 pid 42")
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := orch("apply", locked, "-var", "cluster=alfa")
		if code != 1 || !strings.Contains(errOut, `lock "webapp-alfa" is held by alice@ops1 pid 42`) || out != "" {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
		// Another cluster's lock is free.
		if code, out, errOut := orch("apply", locked, "-var", "cluster=bravo"); code != 0 {
			t.Fatalf("bravo: exit %d\n%s\n%s", code, out, errOut)
		}
		release()
		if code, out, errOut := orch("apply", locked, "-var", "cluster=alfa"); code != 0 {
			t.Fatalf("after release: exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("SIGINT finishes the calls in flight and starts nothing new", func(t *testing.T) {
		sigs := make(chan os.Signal, 1)
		var out, errb bytes.Buffer
		go func() {
			time.Sleep(400 * time.Millisecond) // inside the 1 s slow check
			sigs <- os.Interrupt
		}()
		code := run(context.Background(), f.env(&out, &errb, sigs), []string{"apply", pb, "-var", "cluster=alfa", "-var", "slow=true", "-json"})
		if code != 1 {
			t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
		}
		evs := events(t, out.String())
		var checkEnd, afterEnd engine.Event
		for _, ev := range find(evs, engine.EventResourceEnd, "") {
			switch ev.Resource {
			case "nrpe_check.state":
				checkEnd = ev
			case "rpc.after":
				afterEnd = ev
			}
		}
		// The first batch in flight finished and was reported; the second
		// batch and the next resource never started.
		if n := len(find(evs, engine.EventNodeResult, "nrpe_check.state")); n != 2 {
			t.Errorf("%d check results, want the 2 of the batch in flight", n)
		}
		if checkEnd.Outcome != engine.OutcomeFailed || afterEnd.Outcome != engine.OutcomeSkipped {
			t.Errorf("check %+v, after %+v", checkEnd, afterEnd)
		}
		if !strings.Contains(out.String(), `"type":"notice"`) {
			t.Errorf("no notice of the signal:\n%s", out.String())
		}
	})

	t.Run("a node not answering", func(t *testing.T) {
		if err := rpc.Register(context.Background(), natsConn(t, f.url), fleet.NodeInfo{Identity: "web9", Collective: rpc.DefaultCollective,
			Facts: map[string]any{"cluster": "bravo"}, Agents: map[string]string{"rpcutil": "1", "nrpe": "1"}}, time.Minute); err != nil {
			t.Fatal(err)
		}
		code, out, _ := orch("apply", pb, "-var", "cluster=bravo", "--timeout", "500ms")
		if code != 1 || !strings.Contains(out, "rpcutil_ping.web: web9 did not answer") || !strings.Contains(out, "nrpe_check.state: skipped: rpcutil_ping.web failed") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})

	t.Run("bad variable exits 2 before connecting", func(t *testing.T) {
		code, _, errOut := orch("apply", pb, "-var", "cluster=charlie", "--server", "nats://127.0.0.1:1")
		if code != 2 || !strings.Contains(errOut, "cluster must be alfa or bravo") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
	})
}
