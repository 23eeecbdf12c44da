package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/providertest"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/rpc"
)

func call(h rpc.Handler, noop bool, in map[string]any) (*rpc.Result, error) {
	return h.Handle(context.Background(), &rpc.Call{Agent: "exec", Action: "run", NoOp: noop, Input: in})
}

// TestRun runs real commands: argv and shell entries, every guard, no-op,
// exit codes, timeouts and output limits.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "done")
	existing := filepath.Join(dir, "exists")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := providertest.New(t, Spec(), `
output_limit = 100
command "touch" {
  argv    = ["/usr/bin/touch", "`+marker+`"]
  creates = "`+marker+`"
}
command "echo_args" { argv = ["/bin/echo", "$HOME", "; id"] }
command "env" {
  shell = "echo $GREETING from $(pwd)"
  dir   = "`+dir+`"
  env   = { GREETING = "hello" }
}
command "fail"      { argv = ["/bin/sh", "-c", "echo broken >&2; exit 3"] }
command "fail_ok"   {
  argv    = ["/bin/sh", "-c", "exit 3"]
  returns = [0, 3]
}
command "hang" {
  argv    = ["/bin/sleep", "30"]
  timeout = "200ms"
}
command "chatty"    { shell = "yes | head -c 100000" }
command "guarded"   {
  argv   = ["/bin/true"]
  unless = ["/usr/bin/test", "-e", "`+existing+`"]
}
command "onlyif_no" {
  argv   = ["/bin/true"]
  onlyif = ["/bin/false"]
}
command "is_there"  { argv = ["/usr/bin/test", "-e", "`+existing+`"] }
`, providers.Env{})
	tests := []struct {
		name    string
		noop    bool
		in      map[string]any
		code    fleet.Status
		changed bool
		msg     string
		stdout  string
	}{
		{name: "no-op reports, runs nothing", noop: true, in: map[string]any{"command": "touch"}, changed: true, msg: "would run touch"},
		{name: "runs", in: map[string]any{"command": "touch"}, changed: true, msg: "ran touch: exit 0"},
		{name: "creates guard holds", in: map[string]any{"command": "touch"}, msg: "touch: nothing to do: " + marker + " exists"},
		{name: "creates guard holds under no-op", noop: true, in: map[string]any{"command": "touch"}, msg: "nothing to do"},
		{name: "argv reaches no shell", in: map[string]any{"command": "echo_args"}, changed: true, stdout: "$HOME ; id\n"},
		{name: "shell entry, dir and env", in: map[string]any{"command": "env"}, changed: true, stdout: "hello from " + dir + "\n"},
		{name: "exit code not accepted", in: map[string]any{"command": "fail"}, code: fleet.StatusAborted, msg: "fail: exit 3 (accepted: [0]): broken"},
		{name: "exit code accepted", in: map[string]any{"command": "fail_ok"}, changed: true, msg: "exit 3"},
		{name: "timeout", in: map[string]any{"command": "hang"}, code: fleet.StatusAborted, msg: "killed after"},
		{name: "output capped", in: map[string]any{"command": "chatty"}, changed: true, stdout: strings.Repeat("y\n", 50)},
		{name: "config unless guard", in: map[string]any{"command": "guarded"}, msg: "unless guard /usr/bin/test -e " + existing + " exited 0"},
		{name: "onlyif guard", in: map[string]any{"command": "onlyif_no"}, msg: "onlyif guard /bin/false exited 1"},
		{name: "caller's creates", in: map[string]any{"command": "fail", "creates": existing}, msg: existing + " exists"},
		{name: "caller's unless names a defined command", in: map[string]any{"command": "fail", "unless": "is_there"}, msg: "unless guard"},
		{name: "undefined command", in: map[string]any{"command": "rm"}, code: fleet.StatusInvalidInput, msg: `no exec command "rm" is defined on this node (defined: chatty, echo_args`},
		{name: "undefined unless command", in: map[string]any{"command": "touch", "unless": "nope"}, code: fleet.StatusInvalidInput, msg: `no exec command "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := call(h, tt.noop, tt.in)
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			if tt.code != "" {
				var se *fleet.StatusError
				if !errors.As(err, &se) || se.Status != tt.code || !strings.Contains(se.Message, tt.msg) {
					t.Fatalf("err %v, want %s containing %q", err, tt.code, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := res.Data.(map[string]any)
			if res.Changed != tt.changed || !strings.Contains(res.Message, tt.msg) || tt.stdout != "" && d["stdout"] != tt.stdout {
				t.Errorf("changed %v %q stdout %.80q; want %v %q %.80q", res.Changed, res.Message, d["stdout"], tt.changed, tt.msg, tt.stdout)
			}
		})
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("touch did not run: %v", err)
	}
}

func TestSchemaRefuses(t *testing.T) {
	run, _ := Schema().Action("run")
	for _, in := range []map[string]any{
		{"command": "rm -rf /"}, {"command": "a;b"}, {"command": "$(id)"}, {"command": "../x"},
		{"command": "ok", "creates": "relative/path"}, {"command": "ok", "unless": "test -f /x"},
	} {
		if _, err := run.Validate(in); err == nil {
			t.Errorf("%v passed the schema", in)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, body := range []string{
		`timeout = "soon"`,
		`output_limit = -1`,
		`command "x" {}`,
		`command "x" {
  argv  = ["/bin/true"]
  shell = "true"
}`,
		`command "x" { argv = ["true"] }`,
		`command "x" {
  argv   = ["/bin/true"]
  unless = ["test", "-f", "/x"]
}`,
		`command "x" {
  argv    = ["/bin/true"]
  creates = "relative"
}`,
		`command "bad name" { argv = ["/bin/true"] }`,
		`command "x" { argv = ["/bin/true"] }
command "x" { argv = ["/bin/false"] }`,
		`command "x" {
  argv    = ["/bin/true"]
  timeout = "0s"
}`,
	} {
		f, diags := hclsyntax.ParseConfig([]byte(body), "node.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", body, diags)
		}
		if _, diags := New(f.Body, providers.Env{}); !diags.HasErrors() {
			t.Errorf("%s: accepted", body)
		}
	}
}

func TestList(t *testing.T) {
	h := providertest.New(t, Spec(), `command "a" { shell = "true" }`, providers.Env{})
	res, err := h.Handle(context.Background(), &rpc.Call{Agent: "exec", Action: "list"})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Data.(map[string]any)["commands"].(map[string]any)["a"].([]string); strings.Join(got, " ") != "/bin/sh -c true" {
		t.Errorf("list: %v", got)
	}
}
