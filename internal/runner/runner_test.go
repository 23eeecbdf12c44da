package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := map[string]struct {
		cmd       Cmd
		exit      int
		stdout    string
		truncated bool
		timedOut  bool
		err       string
	}{
		"exit 0 with output":  {cmd: Cmd{Argv: []string{"/bin/echo", "a b"}}, exit: 0, stdout: "a b\n"},
		"exit code kept":      {cmd: Cmd{Argv: []string{"/bin/sh", "-c", "exit 3"}}, exit: 3},
		"argv is not a shell": {cmd: Cmd{Argv: []string{"/bin/echo", "$HOME;", "`id`"}}, stdout: "$HOME; `id`\n"},
		"clean environment":   {cmd: Cmd{Argv: []string{"/bin/sh", "-c", "echo ${SECRET:-unset}"}}, stdout: "unset\n"},
		"given environment":   {cmd: Cmd{Argv: []string{"/bin/sh", "-c", "echo $X"}, Env: []string{"X=1"}}, stdout: "1\n"},
		"output capped":       {cmd: Cmd{Argv: []string{"/bin/sh", "-c", "yes | head -c 100000"}, Limit: 10}, stdout: "y\ny\ny\ny\ny\n", truncated: true},
		"stop at limit":       {cmd: Cmd{Argv: []string{"/usr/bin/yes"}, Limit: 10, StopAtLimit: true, Timeout: time.Minute}, exit: -1, stdout: "y\ny\ny\ny\ny\n", truncated: true, err: "output limit reached"},
		"stdin given":         {cmd: Cmd{Argv: []string{"/bin/cat"}, Stdin: []byte("in\n")}, stdout: "in\n"},
		"stdin not read":      {cmd: Cmd{Argv: []string{"/bin/true"}, Stdin: make([]byte, 1<<20)}},
		"missing command":     {cmd: Cmd{Argv: []string{"/nonexistent/cmd"}}, exit: -1, err: "cannot run /nonexistent/cmd"},
		"timeout":             {cmd: Cmd{Argv: []string{"/bin/sleep", "30"}, Timeout: 200 * time.Millisecond}, exit: -1, timedOut: true, err: "killed after"},
	}
	t.Setenv("SECRET", "leaked")
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := Run(context.Background(), tt.cmd)
			if r.ExitCode != tt.exit || r.Stdout != tt.stdout || r.Truncated != tt.truncated || r.TimedOut != tt.timedOut {
				t.Errorf("got exit %d stdout %.200q truncated %v timedOut %v (err %v)", r.ExitCode, r.Stdout, r.Truncated, r.TimedOut, r.Err)
			}
			if (tt.err == "") != (r.Err == nil) || r.Err != nil && !strings.Contains(r.Err.Error(), tt.err) {
				t.Errorf("err %v, want %q", r.Err, tt.err)
			}
		})
	}
}

// TestTimeoutKillsProcessGroup checks that a grandchild which outlives its
// parent's shell is killed too.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	r := Run(context.Background(), Cmd{Argv: []string{"/bin/sh", "-c", "sleep 60 & echo $! > " + pidFile + "; wait"}, Timeout: 300 * time.Millisecond})
	if !r.TimedOut || time.Since(start) > 5*time.Second {
		t.Fatalf("timed out %v after %s", r.TimedOut, time.Since(start))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, c := range strings.TrimSpace(string(b)) {
		pid = pid*10 + int(c-'0')
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
