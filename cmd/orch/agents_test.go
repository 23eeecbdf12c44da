package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// installExampleAgents copies examples/agents/agents.d to a new agents
// directory with the modes an install gives: executables 0755, the rest
// 0644 (a checkout's modes follow the umask).
func installExampleAgents(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "agents", "agents.d")
	dst := filepath.Join(t.TempDir(), "agents.d")
	for _, name := range []string{"motd", "ini"} {
		if err := os.MkdirAll(filepath.Join(dst, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, file := range []string{name, "schema.json", "schema.hcl"} {
			b, err := os.ReadFile(filepath.Join(src, name, file))
			if os.IsNotExist(err) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if file == name {
				mode = 0o755
			}
			if err := os.WriteFile(filepath.Join(dst, name, file), b, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// TestExternalAgentsCLI calls the example agents (real shell and Python
// processes behind in-process nodes) from the CLI: rpc with inputs typed
// and checked by the schema the registry advertises, --describe, and the
// example playbook, whose agents.d types are checked offline and whose
// generic rpc requests are checked against the fleet's schemas by plan.
func TestExternalAgentsCLI(t *testing.T) {
	agents := installExampleAgents(t)
	f := startFleet(t, map[string]string{"web1": "alfa", "web2": "alfa"}, func(id string) string {
		if id == "web1" {
			return fmt.Sprintf("agents_dir = %q\n", agents)
		}
		return fmt.Sprintf("agents_dir = %q\n", filepath.Join(t.TempDir(), "none"))
	})
	dir := t.TempDir()
	motd, ini := filepath.Join(dir, "motd"), filepath.Join(dir, "site.ini")
	bad := filepath.Join(dir, "bad.hcl") // no agents.d beside it: only the fleet knows ini
	if err := os.WriteFile(bad, []byte(`resource "rpc" "get" {
  agent  = "ini"
  action = "get"
  inputs = { file = "relative.ini", section = "s", key = "k" }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	example := filepath.Join("..", "..", "examples", "agents", "motd.hcl")
	vars := []string{"-var", "motd_path=" + motd, "-var", "settings=" + ini, "-var", "message=hello"}
	steps := []struct {
		name     string
		args     []string
		code     int
		contains []string // in stdout and stderr
	}{
		{"describe", []string{"rpc", "--describe", "ini"}, 0, []string{"set", "file", "an absolute path ending in .ini"}},
		{"rpc typed by the advertised schema", []string{"rpc", "motd", "set", "content=hi", "path=" + motd}, 0, []string{"web1", "updated the message of the day"}},
		{"rpc refused by the advertised schema", []string{"rpc", "motd", "set", "content=hi", "path=relative"}, 2, []string{`input "path"`, "does not match"}},
		{"rpc unknown input", []string{"rpc", "ini", "get", "file=/a.ini", "section=s", "key=k", "colour=red"}, 2, []string{`unknown input`}},
		{"validate: offline, only agents.d types", append([]string{"validate", example}, vars...), 0, []string{"valid, 3 resource instance(s)"}},
		{"validate: offline, fleet agents unchecked", []string{"validate", bad}, 0, []string{"valid"}},
		{"plan: fleet schemas checked", []string{"plan", bad}, 2, []string{`ini.get refuses its input`, `"relative.ini" does not match`}},
		{"apply the example playbook", append([]string{"apply", example}, vars...), 0, []string{"motd_set.banner", "ini_set.owner", "rpc.owner_check"}},
		{"plan: nothing left to change", append([]string{"plan", "--json", example}, vars...), 0, []string{"0 would change, 3 unchanged"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, out, errOut := f.orch(st.args...)
			all := out + errOut
			if code != st.code {
				t.Fatalf("exit %d, want %d\n%s", code, st.code, all)
			}
			for _, s := range st.contains {
				if !strings.Contains(all, s) {
					t.Errorf("output lacks %q:\n%s", s, all)
				}
			}
		})
	}
	if b, err := os.ReadFile(motd); err != nil || string(b) != "hello\n" {
		t.Fatalf("motd %q, %v", b, err)
	}
}
