package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/orch -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test ./cmd/orch -update rewrites it):\n%s", path, diff)
	}
}

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
	golden(t, "usage.golden", errOut)
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
