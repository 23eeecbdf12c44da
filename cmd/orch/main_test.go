package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/internal/golden"
)

// runOrch runs orch in-process with no environment.
func runOrch(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, args)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	code, out, errOut := runOrch(t, "-h")
	if code != exitOK || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	golden.Check(t, "usage.golden", errOut)
}

// TestCommandHelp checks that `orch NAME -h` starts with the synopsis of
// the command table, which names the command.
func TestCommandHelp(t *testing.T) {
	for name, c := range commands() {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(c.synopsis, "orch "+name) || c.summary == "" {
				t.Errorf("row %q: synopsis %q, summary %q", name, c.synopsis, c.summary)
			}
			if name == "version" {
				return // takes no flags
			}
			code, _, errOut := runOrch(t, name, "-h")
			if want := "Usage: " + c.synopsis + "\n"; code != exitInvalid || !strings.HasPrefix(errOut, want) {
				t.Errorf("exit %d; help starts %q, want %q", code, firstLine(errOut), want)
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// A panic in a command is a bug: exit 3 with a request to report it,
// never exit 2 (which means a bad playbook or command line).
func TestPanicIsInternalError(t *testing.T) {
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	cmds := map[string]command{"boom": {"orch boom", "panics", func(context.Context, *env, []string) int { panic("index out of range") }}}
	if code := dispatch(context.Background(), e, []string{"boom"}, cmds); code != exitBug {
		t.Fatalf("exit %d, want %d", code, exitBug)
	}
	if !strings.Contains(errb.String(), "internal error") || !strings.Contains(errb.String(), "please report") || !strings.Contains(errb.String(), "index out of range") {
		t.Errorf("stderr %q does not report an internal error", errb.String())
	}
}
