package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgramFlags checks that the generators see each command's flags as
// its own flag set declares them (the same `orch NAME -h` prints).
func TestProgramFlags(t *testing.T) {
	tests := map[string][]string{
		"agent":   {"config", "check", "log-level"},
		"apply":   {"var", "var-file", "parallelism", "json"},
		"ping":    {"F", "C", "A", "I", "key"},
		"demo":    {"dir"},
		"version": nil,
	}
	flags := map[string]map[string]bool{}
	for _, c := range program(t.Context()).Commands {
		flags[c.Name] = map[string]bool{}
		for _, f := range c.Flags {
			flags[c.Name][f.Name] = true
		}
	}
	if len(flags) != len(commands()) {
		t.Errorf("program has %d commands, the table %d", len(flags), len(commands()))
	}
	for cmd, want := range tests {
		t.Run(cmd, func(t *testing.T) {
			for _, f := range want {
				if !flags[cmd][f] {
					t.Errorf("flag %q missing; have %v", f, flags[cmd])
				}
			}
			if want == nil && len(flags[cmd]) != 0 {
				t.Errorf("want no flags, have %v", flags[cmd])
			}
		})
	}
}

func TestCompletionCommand(t *testing.T) {
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"bash":     {[]string{"bash"}, exitOK, "complete -o default -F _orch orch"},
		"zsh":      {[]string{"zsh"}, exitOK, "#compdef orch"},
		"fish":     {[]string{"fish"}, exitOK, "complete -c orch -n '__fish_seen_subcommand_from agent' -l config -r"},
		"no shell": {nil, exitInvalid, ""},
		"unknown":  {[]string{"tcsh"}, exitInvalid, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runOrch(t, append([]string{"completion"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d (want %d), stdout lacks %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	_, out, _ := runOrch(t, "completion", "bash")
	path := filepath.Join(t.TempDir(), "orch.bash")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, msg)
	}
}

func TestManCommand(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runOrch(t, "man", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "\n"); n != len(commands())+1 {
		t.Errorf("wrote %d pages, want one per command and orch.1:\n%s", n, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "orch-agent.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"orch agent \\-\\-config FILE", ".BI \\-\\-config \" file\"", "/etc/orch/node.hcl"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("orch-agent.1 lacks %q:\n%s", want, b)
		}
	}
}
