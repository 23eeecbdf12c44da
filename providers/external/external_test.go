package external_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers/external"
	"github.com/orch-fleet/orch/rpc"
)

const schema = `{"name": %q, "version": "1.2.0", "actions": [
  {"name": "run", "mutates": true, "inputs": [{"name": "x", "type": "string"}]}
]}`

// writeAgent writes an agent directory: script is the executable's body
// after #!/bin/sh.
func writeAgent(t *testing.T, dir, name, script string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(schema, "%q", `"`+name+`"`, 1)
	if err := os.WriteFile(filepath.Join(d, "schema.json"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHandle(t *testing.T) {
	tests := map[string]struct {
		script     string
		noop       bool
		timeout    time.Duration
		want       string // the reply's message
		wantData   string
		wantStatus fleet.Status // "" = ok
	}{
		"reply ok with data": {script: `cat > /dev/null; echo '{"status":"ok","message":"done","data":{"a":1},"changed":true}'`, want: "done", wantData: `{"a":1}`},
		"request on stdin": {script: `read -r line; msg=$(echo "$line" | tr -d '"{}' | tr ',' ' '); printf '{"status":"ok","message":"%s"}' "$msg"`,
			noop: true, want: "protocol:1 agent:echo action:run input:x:hi request_id:r1 caller:ann@host caller_key:UKEY node:n1 noop:true timeout_ms:5000"},
		"aborted":                {script: `echo '{"status":"aborted","message":"disk full"}'; exit 1`, wantStatus: fleet.StatusAborted, want: "disk full"},
		"invalid input":          {script: `echo '{"status":"invalid_input","message":"x must be a path"}'; exit 1`, wantStatus: fleet.StatusInvalidInput, want: "x must be a path"},
		"ok but non-zero exit":   {script: `echo '{"status":"ok"}'; exit 3`, wantStatus: fleet.StatusAborted, want: "replied ok but exited 3"},
		"no reply":               {script: `echo oops >&2; exit 2`, wantStatus: fleet.StatusInternalError, want: "exited 2 without a valid reply (no output); stderr: oops"},
		"not JSON":               {script: `echo hello`, wantStatus: fleet.StatusInternalError, want: "stdout is not a reply object"},
		"unknown status":         {script: `echo '{"status":"great"}'`, wantStatus: fleet.StatusInternalError, want: `unknown status "great"`},
		"two values":             {script: `echo '{"status":"ok"}{"status":"ok"}'`, wantStatus: fleet.StatusInternalError, want: "more than one JSON value"},
		"floods stdout":          {script: `yes`, wantStatus: fleet.StatusInternalError, want: "wrote more than 262144 bytes and was killed"},
		"hangs, children too":    {script: `sleep 60 & sleep 60; echo '{"status":"ok"}'`, timeout: 300 * time.Millisecond, wantStatus: fleet.StatusAborted, want: "timed out after 300ms; its process group was killed"},
		"clean environment only": {script: `printf '{"status":"ok","message":"%s"}' "${SECRET:-unset} $ORCH_PROTOCOL"`, want: "unset 1"},
		"request in the environment": {script: `printf '{"status":"ok","message":"%s"}' "$ORCH_AGENT $ORCH_ACTION $ORCH_NODE $ORCH_REQUEST_ID $ORCH_CALLER $ORCH_NOOP $ORCH_TIMEOUT_MS x=$ORCH_INPUT_X"`,
			noop: true, want: "echo run n1 r1 ann@host true 5000 x=hi"},
	}
	t.Setenv("SECRET", "leaked")
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeAgent(t, dir, "echo", tt.script)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			set, refused := external.Load(context.Background(), dir, external.Options{Node: "n1", Timeout: timeout})
			if len(refused) > 0 {
				t.Fatalf("refused: %v", refused[0].Err)
			}
			start := time.Now()
			res, err := set.Agents()["echo"].Handle(context.Background(), &rpc.Call{RequestID: "r1", Agent: "echo", Action: "run",
				Input: map[string]any{"x": "hi"}, CallerName: "ann@host", CallerKey: "UKEY", NoOp: tt.noop})
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			if tt.wantStatus != "" {
				var se *fleet.StatusError
				if !errors.As(err, &se) || se.Status != tt.wantStatus || !strings.Contains(se.Message, tt.want) {
					t.Fatalf("err %v, want %s containing %q", err, tt.wantStatus, tt.want)
				}
				return
			}
			if err != nil || res.Message != tt.want {
				t.Fatalf("got %+v, %v; want message %q", res, err, tt.want)
			}
			if tt.wantData != "" {
				if b, _ := json.Marshal(res.Data); string(b) != tt.wantData {
					t.Fatalf("data %s, want %s", b, tt.wantData)
				}
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := map[string]struct {
		setup func(t *testing.T, dir string)
		want  string
	}{
		"world-writable executable": {func(t *testing.T, dir string) { chmod(t, writeAgent(t, dir, "a", ""), "a", 0o757) }, "writable by its group or others"},
		"group-writable schema":     {func(t *testing.T, dir string) { chmod(t, writeAgent(t, dir, "a", ""), "schema.json", 0o664) }, "writable by its group or others"},
		"world-writable directory":  {func(t *testing.T, dir string) { chmod(t, writeAgent(t, dir, "a", ""), "", 0o777) }, "writable by its group or others"},
		"not executable":            {func(t *testing.T, dir string) { chmod(t, writeAgent(t, dir, "a", ""), "a", 0o644) }, "is not executable"},
		"owned by someone else": {func(t *testing.T, dir string) {
			if err := os.Chown(filepath.Join(writeAgent(t, dir, "a", ""), "a"), 4242, 4242); err != nil {
				t.Skip("cannot chown:", err)
			}
		}, "owned by uid 4242"},
		"bad name":      {func(t *testing.T, dir string) { writeAgent(t, dir, "Bad-Name", "") }, "is not an agent name"},
		"built-in name": {func(t *testing.T, dir string) { writeAgent(t, dir, "rpcutil", "") }, "name of a built-in agent"},
		"schema of another": {func(t *testing.T, dir string) {
			d := writeAgent(t, dir, "b", "")
			must(t, os.Rename(filepath.Join(d, "b"), filepath.Join(d, "a")))
			must(t, os.Rename(d, filepath.Join(dir, "a")))
		}, `names the agent "b", not "a"`},
		"no schema": {func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(writeAgent(t, dir, "a", ""), "schema.json")))
		}, "no schema.json or schema.hcl"},
		"two schemas": {func(t *testing.T, dir string) { write(t, filepath.Join(writeAgent(t, dir, "a", ""), "schema.hcl"), "") }, "keep one"},
		"invalid schema": {func(t *testing.T, dir string) {
			write(t, filepath.Join(writeAgent(t, dir, "a", ""), "schema.json"), `{"name":"a"}`)
		}, "version must be set"},
		"no executable":       {func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(writeAgent(t, dir, "a", ""), "a"))) }, "no such file"},
		"agents dir writable": {func(t *testing.T, dir string) { writeAgent(t, dir, "a", ""); must(t, os.Chmod(dir, 0o777)) }, "writable by its group or others"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "agents.d")
			must(t, os.Mkdir(dir, 0o755))
			tt.setup(t, dir)
			set, refused := external.Load(context.Background(), dir, external.Options{Reserved: []string{"rpcutil"}})
			if len(set.Agents()) != 0 || len(refused) != 1 || !strings.Contains(refused[0].Err.Error(), tt.want) {
				t.Fatalf("agents %v, refused %v; want one refusal containing %q", set.Agents(), refused, tt.want)
			}
		})
	}
}

func TestLoadMissingDir(t *testing.T) {
	set, refused := external.Load(context.Background(), filepath.Join(t.TempDir(), "none"), external.Options{})
	if len(set.Agents()) != 0 || len(refused) != 0 {
		t.Fatalf("agents %v, refused %v", set.Agents(), refused)
	}
}

func chmod(t *testing.T, dir, file string, mode os.FileMode) {
	t.Helper()
	must(t, os.Chmod(filepath.Join(dir, file), mode))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(s), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
