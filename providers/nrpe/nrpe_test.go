package nrpe

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

// newHandler builds the provider from an HCL provider body.
func newHandler(t *testing.T, body string) *Handler {
	t.Helper()
	return providertest.New(t, Spec(), body, providers.Env{Identity: "web1"}).(*Handler)
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nrpe.cfg")
	incl := filepath.Join(dir, "nrpe.d")
	if err := os.Mkdir(incl, 0o755); err != nil {
		t.Fatal(err)
	}
	ok := writeScript(t, dir, "ok.sh", `echo "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968"; exit 0`)
	warn := writeScript(t, dir, "warn.sh", `echo "WARNING: something odd"; exit 1`)
	crit := writeScript(t, dir, "crit.sh", `printf 'CRITICAL: bad\nline two\nline three | x=1s;2;3\n'; exit 2`)
	unk := writeScript(t, dir, "unk.sh", `echo "UNKNOWN: no idea"; exit 3`)
	weird := writeScript(t, dir, "weird.sh", `echo "odd"; exit 42`)
	hang := writeScript(t, dir, "hang.sh", `sleep 30 & sleep 30; echo never`)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(cfg, []byte("# nrpe.cfg\nserver_port=5666\ncommand[check_ok]="+ok+"\ncommand[check_warn]="+warn+"\ninclude_dir=nrpe.d\n"), 0o644))
	must(os.WriteFile(filepath.Join(incl, "more.cfg"), []byte("command[check_crit]="+crit+"\ncommand[check_unknown]="+unk+"\ncommand[check_hang]="+hang+"\n"), 0o644))
	h := newHandler(t, `config_files = ["`+cfg+`"]
timeout = "500ms"
commands = { check_weird = "`+weird+`", check_load = "/usr/lib/nagios/plugins/check_load -w 1000,1000,1000 -c 2000,2000,2000" }`)

	tests := []struct {
		command  string
		exit     int
		status   string
		output   string
		perf     int
		longOut  string
		maxTaken time.Duration
	}{
		{"check_ok", 0, "OK", "DISK OK - free space: / 3326 MB (56%);", 1, "", 5 * time.Second},
		{"check_warn", 1, "WARNING", "WARNING: something odd", 0, "", 5 * time.Second},
		{"check_crit", 2, "CRITICAL", "CRITICAL: bad", 1, "line two\nline three", 5 * time.Second},
		{"check_unknown", 3, "UNKNOWN", "UNKNOWN: no idea", 0, "", 5 * time.Second},
		{"check_weird", 3, "UNKNOWN", "odd", 0, "", 5 * time.Second},
		{"check_hang", 3, "UNKNOWN", "check timed out after 500ms", 0, "", 5 * time.Second},
		{"check_load", 0, "OK", "", -1, "", 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.command, func(t *testing.T) {
			start := time.Now()
			res, err := h.Handle(context.Background(), &rpc.Call{Agent: "nrpe", Action: "run", Input: map[string]any{"command": tc.command}})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > tc.maxTaken {
				t.Errorf("took %s", took)
			}
			d := res.Data.(map[string]any)
			if d["exitcode"] != tc.exit || d["status"] != tc.status {
				t.Errorf("exit %v status %v, want %d %s (output %q)", d["exitcode"], d["status"], tc.exit, tc.status, d["output"])
			}
			if tc.output != "" && d["output"] != tc.output {
				t.Errorf("output %q, want %q", d["output"], tc.output)
			}
			if tc.command == "check_load" && !strings.Contains(d["output"].(string), "load average") {
				t.Errorf("check_load output %q", d["output"])
			}
			if tc.perf >= 0 && len(d["perfdata"].([]Perf)) != tc.perf {
				t.Errorf("perfdata %+v, want %d items", d["perfdata"], tc.perf)
			}
			if d["long_output"] != tc.longOut {
				t.Errorf("long output %q, want %q", d["long_output"], tc.longOut)
			}
		})
	}
}

func TestUndefinedCommandRefused(t *testing.T) {
	h := newHandler(t, `commands = { check_true = "true" }`)
	_, err := h.Handle(context.Background(), &rpc.Call{Agent: "nrpe", Action: "run", Input: map[string]any{"command": "check_disk"}})
	var se *fleet.StatusError
	if !errors.As(err, &se) || se.Status != fleet.StatusInvalidInput || !strings.Contains(se.Message, "check_disk") {
		t.Fatalf("got %v, want invalid_input naming the command", err)
	}
	// The schema refuses names that could smuggle anything in.
	act := Schema().Actions[0]
	if _, err := act.Validate(map[string]any{"command": "check_load; rm -rf /"}); err == nil {
		t.Fatal("a command name with a shell metacharacter passed the schema")
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.cfg")
	_ = os.WriteFile(bad, []byte("command[bad name]=/bin/true\n"), 0o644)
	for _, body := range []string{
		`timeout = "soon"`,
		`config_files = ["/nonexistent/nrpe.cfg"]`,
		`config_files = ["` + bad + `"]`,
		`commands = { "x y" = "true" }`,
		`unknown = 1`,
	} {
		f, _ := hclsyntax.ParseConfig([]byte(body), "node.hcl", hcl.InitialPos)
		if _, diags := New(f.Body, providers.Env{}); !diags.HasErrors() {
			t.Errorf("%s: accepted", body)
		}
	}
}

func TestParsePerfdata(t *testing.T) {
	got := ParsePerfdata(`load1=0.150;15.000;30.000;0; 'disk usage'=45%;80;90 time=-1.5ms;;;0;10 junk U=U`)
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Label != "load1" || got[0].Value != 0.15 || got[0].Warn != "15.000" || got[0].Min == nil || *got[0].Min != 0 {
		t.Errorf("load1: %+v", got[0])
	}
	if got[1].Label != "disk usage" || got[1].UOM != "%" || got[1].Crit != "90" {
		t.Errorf("disk: %+v", got[1])
	}
	if got[2].Value != -1.5 || got[2].UOM != "ms" || got[2].Max == nil || *got[2].Max != 10 {
		t.Errorf("time: %+v", got[2])
	}
}
