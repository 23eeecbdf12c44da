package webapp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/orch-fleet/orch"
	"github.com/orch-fleet/orch/engine"
	fleet "github.com/orch-fleet/orch/internal/demofleet"
)

// bins are the orch binary and the SDK example, built once.
var bins struct{ orch, sdk string }

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "orch-webapp-test")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		gobin, err := exec.LookPath("go")
		if err != nil {
			fmt.Fprintln(os.Stderr, "the go command is needed to build orch for the end-to-end test:", err)
			return 1
		}
		bins.orch, bins.sdk = filepath.Join(dir, "orch"), filepath.Join(dir, "deploy-sdk")
		for _, b := range [][]string{{bins.orch, "github.com/orch-fleet/orch/cmd/orch"}, {bins.sdk, "./deploy.go"}} {
			if out, err := exec.Command(gobin, "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b[1], err, out)
				return 1
			}
		}
		return m.Run()
	}())
}

// apply runs `orch apply` on the fleet's deploy-classic.hcl (the
// classic form) as a separate process.
func apply(t *testing.T, f *fleet.Fleet, args ...string) (int, string) {
	t.Helper()
	code, out, errOut := orch(t, f, "deploy-classic.hcl", args...)
	return code, out + errOut
}

// orch runs `orch apply` on one of the fleet's playbooks and returns its
// exit code, stdout and stderr.
func orch(t *testing.T, f *fleet.Fleet, playbook string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bins.orch, append([]string{"apply", filepath.Join(f.PlaybookDir, playbook)}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range f.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// rolling runs `orch apply -json` on the rolling form, deploy.hcl, and
// returns its exit code and events.
func rolling(t *testing.T, f *fleet.Fleet, args ...string) (int, []engine.Event, string) {
	t.Helper()
	code, out, errOut := orch(t, f, "deploy.hcl", append([]string{"-json"}, args...)...)
	var evs []engine.Event
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev engine.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON event: %q: %v\n%s", l, err, errOut)
		}
		evs = append(evs, ev)
	}
	return code, evs, out + errOut
}

// batches returns the batches the rollout announced, in order.
func batches(evs []engine.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == engine.EventBatch && ev.Resource == "module.upgrade" {
			out = append(out, strings.Join(ev.Nodes, ","))
		}
	}
	return out
}

// touched returns the nodes the node_result events of resources whose
// address starts with prefix name, sorted.
func touched(evs []engine.Event, prefix string) string {
	var ids []string
	for _, ev := range evs {
		if ev.Type == engine.EventNodeResult && strings.HasPrefix(ev.Resource, prefix) && !slices.Contains(ids, ev.Node) {
			ids = append(ids, ev.Node)
		}
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// release checks the revision each node's current release holds, in the
// load balancer or not.
func release(t *testing.T, f *fleet.Fleet, ids []string, want string) {
	t.Helper()
	for _, id := range ids {
		if got := f.Release(id); got != want {
			t.Errorf("%s runs %q, want %q", id, got, want)
		}
	}
}

// lastNote returns the last notification's subject and message.
func lastNote(t *testing.T, f *fleet.Fleet) (string, string) {
	t.Helper()
	n := f.Notifications()
	if len(n) == 0 {
		t.Fatal("no notification")
	}
	subject, _ := n[len(n)-1]["subject"].(string)
	message, _ := n[len(n)-1]["message"].(string)
	return subject, message
}

// servedAll checks what HAProxy serves from each node, giving it a few
// seconds to converge (a server just put back in rotation).
func servedAll(t *testing.T, f *fleet.Fleet, want map[string]string) {
	t.Helper()
	var served map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		served, err = f.Served(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for id, rev := range want {
			ok = ok && served[id] == rev
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for id, rev := range want {
		if served[id] != rev {
			t.Errorf("HAProxy serves %q from %s, want %q (all: %v)", served[id], id, rev, served)
		}
	}
}

func states(t *testing.T, f *fleet.Fleet, ids []string, want string) {
	t.Helper()
	st, err := f.ServerStates()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if st[id] != want {
			t.Errorf("HAProxy has %s %s, want %s (all: %v)", id, st[id], want, st)
		}
	}
}

func revs(ids []string, rev string) map[string]string {
	m := map[string]string{}
	for _, id := range ids {
		m[id] = rev
	}
	return m
}

// TestWebappScenario runs the scenario's stories in order on one fleet.
func TestWebappScenario(t *testing.T) {
	ctx := context.Background()
	f, err := fleet.Start(ctx, fleet.Options{Dir: t.TempDir(), Binary: bins.orch, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	if err := f.Bootstrap(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	all := append(append([]string{}, fleet.Alfa...), fleet.Bravo...)
	servedAll(t, f, revs(all, "v1"))
	// What `orch demo up` promises: DIR/env and a pid file per process.
	env, err := os.ReadFile(filepath.Join(f.Dir(), "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ORCH_SERVER", "ORCH_KEY", "ORCH_DEMO_HAPROXY_SOCKET", "ORCH_DEMO_URL"} {
		if !strings.Contains(string(env), "export "+k+"=") {
			t.Errorf("env lacks %s:\n%s", k, env)
		}
	}
	pids := []string{"broker", "haproxy"}
	pids = append(pids, fleet.Nodes()...)
	for _, id := range all {
		pids = append(pids, "http-"+id)
	}
	for _, p := range pids {
		if _, err := os.Stat(filepath.Join(f.Dir(), "pids", p+".pid")); err != nil {
			t.Errorf("no pid file for %s", p)
		}
	}
	notes := func() int { return len(f.Notifications()) }
	fast := []string{"-var", "load_timeout=1s", "-var", "load_interval=200ms"}

	// The rolling form, deploy.hcl: alfa is web1 (the canary), then
	// web2-web4 (50%), then web5; bravo is web6, then web7-web8, then web9.
	t.Run("rolling: the canary fails", func(t *testing.T) {
		if err := f.SetLoadCritical("web1", true); err != nil {
			t.Fatal(err)
		}
		defer f.SetLoadCritical("web1", false)
		code, evs, out := rolling(t, f, append([]string{"-var", "cluster=alfa", "-var", "revision=v2"}, fast...)...)
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		if b := batches(evs); len(b) != 1 || b[0] != "web1" {
			t.Fatalf("batches %v: nothing past the canary may start", b)
		}
		// Nothing else touched: the chain ran for web1 only (and lb1).
		if got := touched(evs, "module.upgrade."); got != "lb1,web1" {
			t.Errorf("the chain touched %s", got)
		}
		// The failure hooks: web1 rolled back and back in service.
		if got := touched(evs, "rpc.rollback"); got != "web1" {
			t.Errorf("rolled back %q, want web1", got)
		}
		release(t, f, fleet.Alfa, "v1")
		states(t, f, all, "UP")
		servedAll(t, f, revs(fleet.Alfa, "v1"))
		subject, message := lastNote(t, f)
		if subject != "webapp v2 NOT deployed to all of alfa" || !strings.Contains(message, "Failed (rolled back and back in service unless the run was interrupted): web1.") {
			t.Errorf("notification %q: %q", subject, message)
		}
	})

	t.Run("rolling: batch by batch", func(t *testing.T) {
		code, evs, out := rolling(t, f, "-var", "cluster=alfa", "-var", "revision=v2")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if b := strings.Join(batches(evs), " "); b != "web1 web2,web3,web4 web5" {
			t.Fatalf("batches %s", b)
		}
		// No overlap: every event of batch k comes before any of batch
		// k+1, and each batch is back in the load balancer before the
		// next one leaves it.
		last, order := 0, []string{}
		for _, ev := range evs {
			if ev.Batch == 0 || ev.Type != engine.EventResourceEnd && ev.Type != engine.EventNodeResult && ev.Type != engine.EventResourceStart {
				continue
			}
			if ev.Batch < last {
				t.Fatalf("an event of batch %d (%s %s) after one of batch %d", ev.Batch, ev.Type, ev.Resource, last)
			}
			last = ev.Batch
			if ev.Type == engine.EventResourceEnd && strings.HasPrefix(ev.Resource, "module.upgrade.haproxy_") {
				order = append(order, fmt.Sprintf("%d:%s", ev.Batch, strings.TrimPrefix(ev.Resource, "module.upgrade.")))
			}
		}
		if got := strings.Join(order, " "); got != "1:haproxy_disable.out 1:haproxy_enable.in 2:haproxy_disable.out 2:haproxy_enable.in 3:haproxy_disable.out 3:haproxy_enable.in" {
			t.Errorf("load balancer steps %s", got)
		}
		release(t, f, fleet.Alfa, "v2")
		servedAll(t, f, revs(fleet.Alfa, "v2"))
		states(t, f, all, "UP")
		subject, message := lastNote(t, f)
		if subject != "webapp v2 deployed to alfa" || !strings.Contains(message, "Running v2: web1, web2, web3, web4, web5.\nDeployed by this run: web1, web2, web3, web4, web5.") {
			t.Errorf("notification %q: %q", subject, message)
		}
	})

	t.Run("rolling: re-running changes nothing", func(t *testing.T) {
		before := notes()
		code, out, errOut := orch(t, f, "deploy.hcl", "-var", "cluster=alfa", "-var", "revision=v2")
		if code != 0 || !strings.Contains(out, "nodes: 0 changed") || notes() != before {
			t.Fatalf("exit %d, %d notifications (%d before)\n%s%s", code, notes(), before, out, errOut)
		}
	})

	t.Run("rolling: within the budget, then a re-run completes it", func(t *testing.T) {
		if err := f.SetLoadCritical("web3", true); err != nil {
			t.Fatal(err)
		}
		code, evs, out := rolling(t, f, append([]string{"-var", "cluster=alfa", "-var", "revision=v1", "-var", "max_failed=1"}, fast...)...)
		if code != 1 {
			t.Fatalf("exit %d, want 1: a node failed\n%s", code, out)
		}
		if b := strings.Join(batches(evs), " "); b != "web1 web2,web3,web4 web5" {
			t.Fatalf("batches %s: the rollout goes on while the budget holds", b)
		}
		// The hooks ran for exactly the failed node.
		if got := touched(evs, "rpc.rollback"); got != "web3" {
			t.Errorf("rolled back %q, want web3", got)
		}
		release(t, f, []string{"web1", "web2", "web4", "web5"}, "v1")
		release(t, f, []string{"web3"}, "v2")
		states(t, f, all, "UP")
		subject, message := lastNote(t, f)
		if subject != "webapp v1 NOT deployed to all of alfa" || !strings.Contains(message, "web3") {
			t.Errorf("notification %q: %q", subject, message)
		}
		// Fixed: the same command again deploys web3 only, and the
		// notification tells the whole cluster's state.
		if err := f.SetLoadCritical("web3", false); err != nil {
			t.Fatal(err)
		}
		code, evs, out = rolling(t, f, "-var", "cluster=alfa", "-var", "revision=v1", "-var", "max_failed=1")
		if code != 0 {
			t.Fatalf("re-run: exit %d\n%s", code, out)
		}
		if got := touched(evs, "module.upgrade.appmgr_deploy.release"); got != "web3" {
			t.Errorf("the re-run deployed to %q, want web3", got)
		}
		subject, message = lastNote(t, f)
		if subject != "webapp v1 deployed to alfa" || !strings.Contains(message, "Running v1: web1, web2, web3, web4, web5.\nDeployed by this run: web3.") {
			t.Errorf("notification %q: %q", subject, message)
		}
		servedAll(t, f, revs(fleet.Alfa, "v1"))
	})

	t.Run("rolling: SIGINT, then the clean-up", func(t *testing.T) {
		if err := f.SetLoadCritical("web7", true); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bins.orch, "apply", filepath.Join(f.PlaybookDir, "deploy.hcl"), "-var", "cluster=bravo", "-var", "revision=v2",
			"-var", "load_timeout=60s", "-var", "load_interval=300ms")
		cmd.Env = os.Environ()
		for k, v := range f.Env() {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out := interruptAt(t, cmd, "module.upgrade.nrpe_check.load: attempt 2")
		for _, want := range []string{"interrupt: starting nothing new", "module.upgrade: batch 2 of 3: web7, web8", "haproxy_enable.cleanup: ok", "FAILED:"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "batch 3 of 3") {
			t.Errorf("a batch started after the interrupt:\n%s", out)
		}
		// web8 passed its check when the run was interrupted: the clean-up
		// put it back. web7 failed; its failure hooks do not run after an
		// interrupt, so it stays out, at v2, for a person (or the re-run).
		release(t, f, []string{"web6", "web7", "web8"}, "v2")
		release(t, f, []string{"web9"}, "v1")
		states(t, f, []string{"web6", "web8", "web9"}, "UP")
		states(t, f, []string{"web7"}, "MAINT")
		// Fixed and re-run: web7 passes its check and is back in; web9 is
		// deployed.
		if err := f.SetLoadCritical("web7", false); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := orch(t, f, "deploy.hcl", "-var", "cluster=bravo", "-var", "revision=v2"); code != 0 {
			t.Fatalf("re-run: exit %d\n%s%s", code, out, errOut)
		}
		states(t, f, all, "UP")
		servedAll(t, f, revs(fleet.Bravo, "v2"))
		// Back to v1 for the classic form's stories.
		if code, out, errOut := orch(t, f, "deploy.hcl", "-var", "cluster=bravo", "-var", "revision=v1"); code != 0 {
			t.Fatalf("back to v1: exit %d\n%s%s", code, out, errOut)
		}
		servedAll(t, f, revs(all, "v1"))
	})

	t.Run("rolling: a web node down before the run", func(t *testing.T) {
		if err := f.Kill("web9"); err != nil {
			t.Fatal(err)
		}
		before := notes()
		code, out, errOut := orch(t, f, "deploy.hcl", "-var", "cluster=bravo", "-var", "revision=v2", "--timeout", "2s")
		out += errOut
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		// Nothing changes; the hooks have nothing to do (the rollout was
		// skipped: its results are empty), the status check and the
		// notification say where the cluster stands.
		for _, want := range []string{"rpcutil_ping.fleet: web9 did not answer", "module.upgrade: skipped", "haproxy_enable.cleanup: ok", "appmgr_deploy.status: web9 did not answer"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		release(t, f, fleet.Bravo, "v1")
		states(t, f, all, "UP")
		subject, message := lastNote(t, f)
		if notes() != before+1 || subject != "webapp v2 NOT deployed to all of bravo" || !strings.Contains(message, "No answer: web9.") {
			t.Errorf("%d notifications (%d before), the last %q: %q", notes(), before, subject, message)
		}
		if err := f.StartNode("web9"); err != nil {
			t.Fatal(err)
		}
		answers(t, f, "web9")
	})

	// The classic form, deploy-classic.hcl.

	t.Run("classic: alfa then bravo", func(t *testing.T) {
		before := notes()
		for i, cluster := range []string{"alfa", "bravo"} {
			code, out := apply(t, f, "-var", "cluster="+cluster, "-var", "revision=v2")
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", cluster, code, out)
			}
			if n := f.Notifications(); len(n) != before+i+1 || n[before+i]["subject"] != "webapp v2 deployed to "+cluster {
				t.Fatalf("after %s: notifications %v", cluster, n)
			}
		}
		servedAll(t, f, revs(all, "v2"))
		states(t, f, all, "UP")
	})

	t.Run("classic: re-running changes nothing", func(t *testing.T) {
		before := notes()
		code, out := apply(t, f, "-var", "cluster=bravo", "-var", "revision=v2")
		if code != 0 || !strings.Contains(out, "nodes: 0 changed") || notes() != before {
			t.Fatalf("exit %d, %d notifications\n%s", code, notes(), out)
		}
	})

	t.Run("classic: load stays critical", func(t *testing.T) {
		before := notes()
		if err := f.SetLoadCritical("web2", true); err != nil {
			t.Fatal(err)
		}
		code, out := apply(t, f, "-var", "cluster=alfa", "-var", "revision=v1", "-var", "load_timeout=2s", "-var", "load_interval=500ms")
		if code != 1 || !strings.Contains(out, "nrpe_check.load: web2 failed") || !strings.Contains(out, "CRITICAL") ||
			!strings.Contains(out, "angelia_notify.deployed: skipped") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		states(t, f, fleet.Alfa, "MAINT")
		states(t, f, fleet.Bravo, "UP")
		if notes() != before {
			t.Fatalf("%d notifications, want %d", notes(), before)
		}
		// Fixed: the same command again puts the cluster back.
		if err := f.SetLoadCritical("web2", false); err != nil {
			t.Fatal(err)
		}
		code, out = apply(t, f, "-var", "cluster=alfa", "-var", "revision=v1")
		if code != 0 {
			t.Fatalf("re-run: exit %d\n%s", code, out)
		}
		states(t, f, all, "UP")
		servedAll(t, f, revs(fleet.Alfa, "v1"))
	})

	t.Run("classic: a web node down before the run", func(t *testing.T) {
		if err := f.Kill("web7"); err != nil {
			t.Fatal(err)
		}
		code, out := apply(t, f, "-var", "cluster=bravo", "-var", "revision=v1", "--timeout", "2s")
		if code != 1 || !strings.Contains(out, "rpcutil_ping.fleet: web7 did not answer") || !strings.Contains(out, "appmgr_deploy.pending: skipped") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		// Nothing changed on any node.
		servedAll(t, f, revs(fleet.Bravo, "v2"))
		states(t, f, all, "UP")
		if err := f.StartNode("web7"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("classic: notify1 down", func(t *testing.T) {
		if err := f.Kill("notify1"); err != nil {
			t.Fatal(err)
		}
		before := notes()
		code, out := apply(t, f, "-var", "cluster=bravo", "-var", "revision=v1")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		n := f.Notifications()
		if len(n) != before+1 || n[len(n)-1]["node"] != "notify2" {
			t.Fatalf("notifications %v", n[before:])
		}
		servedAll(t, f, revs(fleet.Bravo, "v1"))
		if err := f.StartNode("notify1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("classic: SIGINT mid-run", func(t *testing.T) {
		if err := f.SetLoadCritical("web8", true); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bins.orch, "apply", filepath.Join(f.PlaybookDir, "deploy-classic.hcl"), "-var", "cluster=bravo", "-var", "revision=v2",
			"-var", "load_timeout=60s", "-var", "load_interval=1s")
		cmd.Env = os.Environ()
		for k, v := range f.Env() {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out := interruptAt(t, cmd, "nrpe_check.load: attempt 2")
		for _, want := range []string{"interrupt: starting nothing new", "module.service.haproxy_enable.servers[0]: skipped", "FAILED:"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		// A consistent state: bravo deployed but out of the load balancer.
		states(t, f, fleet.Bravo, "MAINT")
		// Fixed and re-run: back in service.
		if err := f.SetLoadCritical("web8", false); err != nil {
			t.Fatal(err)
		}
		if code, out := apply(t, f, "-var", "cluster=bravo", "-var", "revision=v2"); code != 0 {
			t.Fatalf("re-run: exit %d\n%s", code, out)
		}
		states(t, f, all, "UP")
		servedAll(t, f, revs(fleet.Bravo, "v2"))
	})

	t.Run("the Go SDK example", func(t *testing.T) {
		if err := f.SetLoadCritical("web3", true); err != nil {
			t.Fatal(err)
		}
		defer f.SetLoadCritical("web3", false)
		cmd := exec.Command(bins.sdk, "-cluster", "alfa", "-revision", "v2", "-load-timeout", "1s", "-interval", "300ms")
		cmd.Env = os.Environ()
		for k, v := range f.Env() {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit %v, want 1\n%s", err, out)
		}
		for _, want := range []string{"web1     v1", "v2 (", "web3     v1", "MAINTENANCE load: CRITICAL", "left in maintenance"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		states(t, f, []string{"web3"}, "MAINT")
		states(t, f, []string{"web1", "web2", "web4", "web5"}, "UP")
		n := f.Notifications()
		last, _ := json.Marshal(n[len(n)-1])
		if !strings.Contains(string(last), "web3") || !strings.Contains(string(last), "left in maintenance") {
			t.Fatalf("last notification %s", last)
		}
	})
}

// answers waits until the node id answers a ping (a node just started).
func answers(t *testing.T, f *fleet.Fleet, id string) {
	t.Helper()
	ctx := context.Background()
	c, err := f.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := c.Call(ctx, sdk.Call{Agent: "rpcutil", Action: "ping", Nodes: []string{id}, Timeout: time.Second})
		if err == nil && res.OK() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer: %v", id, err)
		}
	}
}

// interruptAt starts cmd, sends it SIGINT once its output has a line with
// at, and returns its output. The run must end within 10 s with exit 1.
func interruptAt(t *testing.T, cmd *exec.Cmd, at string) string {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	reached, scanned := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), at) {
				once = true
				close(reached)
			}
		}
	}()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the output never had %q", at)
	}
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	pw.Close()
	<-scanned
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %v after %s\n%s", err, time.Since(start), out.String())
	}
	return out.String()
}

// testWriter sends the fleet's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
