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
	"strings"
	"testing"
	"time"

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

// apply runs `orch apply` on the fleet's deploy.hcl as a separate process.
func apply(t *testing.T, f *fleet.Fleet, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bins.orch, append([]string{"apply", filepath.Join(f.PlaybookDir, "deploy.hcl")}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range f.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
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

	t.Run("alfa then bravo", func(t *testing.T) {
		for i, cluster := range []string{"alfa", "bravo"} {
			code, out := apply(t, f, "-var", "cluster="+cluster, "-var", "revision=v2")
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", cluster, code, out)
			}
			if n := f.Notifications(); len(n) != i+1 || n[i]["subject"] != "webapp v2 deployed to "+cluster {
				t.Fatalf("after %s: notifications %v", cluster, n)
			}
		}
		servedAll(t, f, revs(all, "v2"))
		states(t, f, all, "UP")
	})

	t.Run("re-running changes nothing", func(t *testing.T) {
		code, out := apply(t, f, "-var", "cluster=bravo", "-var", "revision=v2")
		if code != 0 || !strings.Contains(out, "nodes: 0 changed") || notes() != 2 {
			t.Fatalf("exit %d, %d notifications\n%s", code, notes(), out)
		}
	})

	t.Run("load stays critical", func(t *testing.T) {
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
		if notes() != 2 {
			t.Fatalf("%d notifications", notes())
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

	t.Run("a web node down before the run", func(t *testing.T) {
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

	t.Run("notify1 down", func(t *testing.T) {
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

	t.Run("SIGINT mid-run", func(t *testing.T) {
		if err := f.SetLoadCritical("web8", true); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bins.orch, "apply", filepath.Join(f.PlaybookDir, "deploy.hcl"), "-var", "cluster=bravo", "-var", "revision=v2",
			"-var", "load_timeout=60s", "-var", "load_interval=1s")
		cmd.Env = os.Environ()
		for k, v := range f.Env() {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		retrying, scanned := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(pr)
			once := false
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if !once && strings.Contains(sc.Text(), "nrpe_check.load: attempt 2") {
					once = true
					close(retrying)
				}
			}
		}()
		select {
		case <-retrying:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("the load check never retried")
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
		for _, want := range []string{"interrupt: starting nothing new", "module.service.haproxy_enable.servers[0]: skipped", "FAILED:"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
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

// testWriter sends the fleet's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
