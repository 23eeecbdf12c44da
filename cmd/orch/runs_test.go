package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
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

// eventually polls cond every 20ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, d)
		}
	}
}

// sensitivePlaybook adds a sensitive variable to the apply playbook.
const sensitivePlaybook = applyPlaybook + `
variable "token" {
  type      = string
  default   = "s3cr3t"
  sensitive = true
}
`

// runsList runs orch runs list --json.
func runsListJSON(t *testing.T, f *testFleetT, args ...string) []history.Record {
	t.Helper()
	code, out, errOut := f.orch(append([]string{"runs", "list", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("runs list: exit %d: %s", code, errOut)
	}
	var recs []history.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return recs
}

func TestRunsCommands(t *testing.T) {
	f, _, setState := applyFleet(t)
	pb := filepath.Join(f.dir, "sensitive.hcl")
	if err := os.WriteFile(pb, []byte(sensitivePlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := f.orch("apply", pb, "-var", "cluster=alfa"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	setState("web2", 2)
	html := filepath.Join(f.dir, "failed.html")
	if code, _, errOut := f.orch("apply", pb, "-var", "cluster=alfa", "--report-html", html); code != 1 || strings.Contains(errOut, "warning") {
		t.Fatalf("failing apply: exit %d, %s", code, errOut)
	}
	setState("web2", 0)

	recs := runsListJSON(t, f)
	if len(recs) != 2 || recs[0].Outcome != engine.OutcomeFailed || recs[1].Outcome != engine.OutcomeOK {
		t.Fatalf("runs: %+v", recs)
	}
	failed := recs[0]
	vars := map[string]string{}
	for _, v := range failed.Vars {
		vars[v.Name] = v.Value
	}
	if vars["cluster"] != `"alfa"` || vars["token"] != `"(sensitive)"` || failed.Caller.Key == "" || len(failed.Digest) != 64 || len(failed.Steps) != 3 {
		t.Errorf("record: %+v", failed)
	}
	filters := map[string]struct {
		args []string
		want int
	}{
		"outcome ok":        {[]string{"--outcome", "ok"}, 1},
		"playbook":          {[]string{"--playbook", "sensitive.hcl"}, 2},
		"other playbook":    {[]string{"--playbook", "other.hcl"}, 0},
		"since a minute":    {[]string{"--since", "1m"}, 2},
		"newest one":        {[]string{"-n", "1"}, 1},
		"outcome + limited": {[]string{"--outcome", "failed", "-n", "5"}, 1},
	}
	for name, tc := range filters {
		t.Run(name, func(t *testing.T) {
			if got := runsListJSON(t, f, tc.args...); len(got) != tc.want {
				t.Errorf("%d runs, want %d", len(got), tc.want)
			}
		})
	}

	code, out, _ := f.orch("runs", "show", failed.ID)
	for _, want := range []string{"run " + failed.ID, `var.token = "(sensitive)"`, "nrpe_check.state: web2 failed", "rpcutil_ping.web: web1 ok", "FAILED: 3 resource(s)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("runs show: exit %d, no %q in\n%s", code, want, out)
		}
	}
	code, out, _ = f.orch("runs", "show", failed.ID, "--html")
	saved, _ := os.ReadFile(html)
	if code != 0 || !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.Contains(string(saved), `data-addr="nrpe_check.state"`) {
		t.Errorf("runs show --html: exit %d, %.200s", code, out)
	}
	if code, _, errOut := f.orch("runs", "show", "20000101T000000000000Z-000000"); code != exitInvalid || !strings.Contains(errOut, "no such run") {
		t.Errorf("unknown run: exit %d, %s", code, errOut)
	}
	if code, _, errOut := f.orch("runs", "list", "--outcome", "bad"); code != exitInvalid {
		t.Errorf("bad outcome: exit %d, %s", code, errOut)
	}
}

func TestRunsWatchFollowsARunStartedElsewhere(t *testing.T) {
	f, pb, _ := applyFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	applied := make(chan int, 1)
	go func() {
		code, _, _ := f.orch("apply", pb, "-var", "cluster=alfa", "-var", "slow=true")
		applied <- code
	}()
	eventually(t, 10*time.Second, "a running run", func() bool { return len(runsListJSON(t, f, "--outcome", "running")) == 1 })
	var out, errb syncBuffer
	code := run(ctx, &env{stdout: &out, stderr: &errb, getenv: f.env(nil, nil, nil).getenv}, []string{"runs", "watch", "--plain"})
	if code != 0 || <-applied != 0 {
		t.Fatalf("watch: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"nrpe_check.state: nrpe.run on 3 node(s) in batches of 2", "rpc.after: ok", "OK: 3 resource(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("watch output lacks %q:\n%s", want, out.String())
		}
	}
	if code, _, errOut := f.orch("runs", "watch"); code != exitInvalid || !strings.Contains(errOut, "no run is going on") {
		t.Errorf("watch with nothing running: exit %d, %s", code, errOut)
	}
}

func TestUIListenAddress(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"beyond loopback": {[]string{"--listen", "0.0.0.0:0"}, "not a loopback address: pass --allow-remote"},
		"not host:port":   {[]string{"--listen", "nope"}, "--listen"},
		"stray argument":  {[]string{"extra"}, "unexpected argument"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runOrch(t, append([]string{"ui", "--key", "x.nk"}, tc.args...)...)
			if code != exitInvalid || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q, want %q", code, errOut, tc.want)
			}
		})
	}
}
