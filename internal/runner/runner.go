// Package runner runs a command for a provider the way every provider
// should: argv, never a shell unless the caller puts one in argv[0]; its
// own process group, killed as a whole when ctx ends or the timeout
// passes; stdout and stderr each capped in size; a clean, fixed
// environment unless the caller gives one.
//
//	res := runner.Run(ctx, runner.Cmd{Argv: []string{"/usr/bin/systemctl", "is-enabled", "--", unit}, Timeout: time.Minute})
//	if res.Err != nil { ... } // could not start, or timed out
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// DefaultLimit caps each of stdout and stderr when Cmd.Limit is 0.
const DefaultLimit = 64 * 1024

// BaseEnv is the environment of a command whose Cmd.Env is nil.
var BaseEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"}

// Cmd is a command to run.
type Cmd struct {
	Argv []string
	// Env is the whole environment; nil means BaseEnv.
	Env []string
	// Dir is the working directory; "" means /.
	Dir string
	// Stdin is what the command reads on its standard input; nil means
	// nothing (it reads end of file at once).
	Stdin []byte
	// Timeout bounds the run; 0 means only ctx does.
	Timeout time.Duration
	// Limit caps stdout and stderr, each; 0 means DefaultLimit.
	Limit int
	// StopAtLimit kills the command as soon as its stdout passes Limit
	// (Result.Truncated, Result.Err set), rather than dropping the rest
	// until it exits: for output that is useless once cut.
	StopAtLimit bool
}

// errOutputLimit is why a StopAtLimit command was killed.
var errOutputLimit = errors.New("output limit reached")

// Result is what a command did.
type Result struct {
	ExitCode  int // -1 when it did not exit on its own
	Stdout    string
	Stderr    string
	Truncated bool // some output was dropped at the limit
	TimedOut  bool
	Elapsed   time.Duration
	// Err is set when the command could not start, timed out or was
	// cancelled; a non-zero exit alone is not an error.
	Err error
}

// Run runs c and waits for it and its process group.
func Run(ctx context.Context, c Cmd) Result {
	if len(c.Argv) == 0 {
		return Result{ExitCode: -1, Err: errors.New("no command")}
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	if cmd.Env == nil {
		cmd.Env = BaseEnv
	}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	limit := c.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	stdout, stderr := &capped{n: limit}, &capped{n: limit}
	if c.StopAtLimit {
		stdout.full = func() { stop(errOutputLimit) }
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	start := time.Now()
	err := cmd.Run()
	r := Result{ExitCode: -1, Stdout: stdout.String(), Stderr: stderr.String(), Truncated: stdout.dropped || stderr.dropped, Elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil && cmd.ProcessState != nil && !cmd.ProcessState.Success():
		r.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
		r.Err = fmt.Errorf("%s: killed after %s: %w", c.Argv[0], r.Elapsed.Round(time.Millisecond), context.Cause(ctx))
	case err == nil:
		r.ExitCode = 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.ExitCode = ee.ExitCode()
	default:
		r.Err = fmt.Errorf("cannot run %s: %w", c.Argv[0], err)
	}
	return r
}

// Output returns stdout and stderr joined, trimmed, for messages.
func (r Result) Output() string {
	return strings.TrimSpace(strings.TrimSpace(r.Stdout) + "\n" + strings.TrimSpace(r.Stderr))
}

// Tail returns the last n lines of Output, for error messages.
func (r Result) Tail(n int) string {
	lines := strings.Split(r.Output(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// capped keeps the first n bytes written to it and drops the rest, so
// that a runaway command cannot exhaust the node's memory.
// It has no ReadFrom, so that io.Copy goes through Write.
type capped struct {
	buf     bytes.Buffer
	n       int
	dropped bool
	full    func() // called when output is first dropped; nil: nothing
}

func (w *capped) String() string { return w.buf.String() }

func (w *capped) Write(p []byte) (int, error) {
	room := w.n - w.buf.Len()
	switch {
	case room <= 0:
		w.dropped = w.dropped || len(p) > 0
	case len(p) > room:
		w.buf.Write(p[:room])
		w.dropped = true
	default:
		w.buf.Write(p)
	}
	if w.dropped && w.full != nil {
		w.full()
		w.full = nil
	}
	return len(p), nil
}
