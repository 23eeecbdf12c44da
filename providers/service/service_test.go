package service

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/providertest"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/rpc"
)

// fakeSystemctl writes a stand-in for systemctl into a new directory: it
// logs its argv, answers show with the state file (a fixture from
// testdata) and is-enabled with the enabled file, and changes them as
// systemctl would. systemd is not PID 1 where CI runs, so this is how the
// provider's command lines and its handling of systemctl's real output
// format are tested; see TestEnableDisableReal for what runs for real.
func fakeSystemctl(t *testing.T, state, afterStart, enabled string) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	fixture := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	copyFile(t, fixture(state), filepath.Join(dir, "state"))
	if err := os.WriteFile(filepath.Join(dir, "enabled"), []byte(enabled+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
D=` + dir + `
echo "$*" >> $D/argv.log
case "$1" in
show) cat $D/state ;;
is-enabled) cat $D/enabled; [ "$(cat $D/enabled)" = disabled ] && exit 1; exit 0 ;;
start|restart|reload) cp ` + fixture(afterStart) + ` $D/state ;;
stop) cp ` + fixture("show-dead.txt") + ` $D/state ;;
enable) echo enabled > $D/enabled ;;
disable) echo disabled > $D/enabled ;;
esac
`
	path = filepath.Join(dir, "systemctl")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, filepath.Join(dir, "argv.log")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func call(h rpc.Handler, act, unit string, noop bool) (*rpc.Result, error) {
	return h.Handle(context.Background(), &rpc.Call{Agent: "service", Action: act, NoOp: noop, Input: map[string]any{"unit": unit}})
}

const show = "show --property=" + ShowProperties + " -- nginx.service"

func TestActions(t *testing.T) {
	tests := map[string]struct {
		action, state, afterStart, enabled string
		noop                               bool
		changed                            bool
		wantCode                           fleet.Status // "" = ok
		wantMsg                            string
		wantArgv                           []string
	}{
		"status":                        {action: "status", state: "show-running.txt", wantMsg: "nginx.service: active (running), enabled", wantArgv: []string{show}},
		"start a running unit":          {action: "start", state: "show-running.txt", wantMsg: "already active", wantArgv: []string{show}},
		"start a stopped unit":          {action: "start", state: "show-dead.txt", changed: true, wantMsg: "started nginx.service: now active (running)", wantArgv: []string{show, "start -- nginx.service", show}},
		"start under no-op":             {action: "start", state: "show-dead.txt", noop: true, changed: true, wantMsg: "would start nginx.service (now inactive)", wantArgv: []string{show}},
		"start fails":                   {action: "start", state: "show-dead.txt", afterStart: "show-failed.txt", wantCode: fleet.StatusAborted, wantMsg: "but it is failed", wantArgv: []string{show, "start -- nginx.service", show}},
		"start a masked unit":           {action: "start", state: "show-masked.txt", wantCode: fleet.StatusAborted, wantMsg: "masked", wantArgv: []string{show}},
		"start an unknown unit":         {action: "start", state: "show-not-found.txt", wantCode: fleet.StatusInvalidInput, wantMsg: "no unit nginx.service", wantArgv: []string{show}},
		"stop a running unit":           {action: "stop", state: "show-running.txt", changed: true, wantMsg: "stopped nginx.service: now inactive (dead)", wantArgv: []string{show, "stop -- nginx.service", show}},
		"stop a stopped unit":           {action: "stop", state: "show-dead.txt", wantMsg: "already inactive", wantArgv: []string{show}},
		"stop a failed unit":            {action: "stop", state: "show-failed.txt", wantMsg: "already failed", wantArgv: []string{show}},
		"restart":                       {action: "restart", state: "show-running.txt", changed: true, wantMsg: "restarted", wantArgv: []string{show, "restart -- nginx.service", show}},
		"restart under no-op":           {action: "restart", state: "show-running.txt", noop: true, changed: true, wantMsg: "would restart", wantArgv: []string{show}},
		"reload":                        {action: "reload", state: "show-running.txt", changed: true, wantMsg: "reloaded", wantArgv: []string{show, "reload -- nginx.service", show}},
		"reload a stopped unit":         {action: "reload", state: "show-dead.txt", wantCode: fleet.StatusAborted, wantMsg: "cannot reload nginx.service: it is inactive", wantArgv: []string{show}},
		"enable a disabled unit":        {action: "enable", enabled: "disabled", changed: true, wantMsg: "enabled nginx.service: now enabled", wantArgv: []string{"is-enabled -- nginx.service", "enable -- nginx.service", "is-enabled -- nginx.service"}},
		"enable under no-op":            {action: "enable", enabled: "disabled", noop: true, changed: true, wantMsg: "would enable", wantArgv: []string{"is-enabled -- nginx.service"}},
		"enable a static unit":          {action: "enable", enabled: "static", wantMsg: "already static", wantArgv: []string{"is-enabled -- nginx.service"}},
		"enable a masked unit":          {action: "enable", enabled: "masked", wantCode: fleet.StatusAborted, wantMsg: "it is masked", wantArgv: []string{"is-enabled -- nginx.service"}},
		"disable an enabled unit":       {action: "disable", enabled: "enabled", changed: true, wantMsg: "disabled nginx.service: now disabled", wantArgv: []string{"is-enabled -- nginx.service", "disable -- nginx.service", "is-enabled -- nginx.service"}},
		"disable a disabled unit":       {action: "disable", enabled: "disabled", wantMsg: "already disabled", wantArgv: []string{"is-enabled -- nginx.service"}},
		"disable a static unit is a no": {action: "disable", enabled: "static", wantMsg: "already static", wantArgv: []string{"is-enabled -- nginx.service"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			state, after := tt.state, tt.afterStart
			if state == "" {
				state = "show-dead.txt"
			}
			if after == "" {
				after = "show-running.txt"
			}
			if tt.enabled == "" {
				tt.enabled = "disabled"
			}
			bin, log := fakeSystemctl(t, state, after, tt.enabled)
			h := providertest.New(t, Spec(), `systemctl = "`+bin+`"`, providers.Env{})
			res, err := call(h, tt.action, "nginx.service", tt.noop)
			checkResult(t, res, err, tt.wantCode, tt.changed, tt.wantMsg)
			b, _ := os.ReadFile(log)
			if got := strings.Split(strings.TrimSpace(string(b)), "\n"); strings.Join(got, "|") != strings.Join(tt.wantArgv, "|") {
				t.Errorf("systemctl ran\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.wantArgv, "\n  "))
			}
		})
	}
}

// checkResult compares a reply with the wanted status code ("" for ok),
// changed flag and message part.
func checkResult(t *testing.T, res *rpc.Result, err error, code fleet.Status, changed bool, msg string) {
	t.Helper()
	if code != "" {
		var se *fleet.StatusError
		if !errors.As(err, &se) || se.Status != code || !strings.Contains(se.Message, msg) {
			t.Fatalf("err %v, want %s containing %q", err, code, msg)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != changed || !strings.Contains(res.Message, msg) {
		t.Errorf("changed %v message %q, want %v and %q", res.Changed, res.Message, changed, msg)
	}
}

func TestParseShowFixtures(t *testing.T) {
	tests := map[string]Unit{
		"show-running.txt":   {ID: "nginx.service", LoadState: "loaded", ActiveState: "active", SubState: "running", UnitFileState: "enabled", MainPID: 1234},
		"show-dead.txt":      {ID: "nginx.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead", UnitFileState: "disabled"},
		"show-not-found.txt": {ID: "nosuch.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"},
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseShow(string(b))
			got.Description = ""
			if err != nil || got != want {
				t.Errorf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
	if _, err := ParseShow("System has not been booted with systemd as init system (PID 1). Can't operate.\n"); err == nil {
		t.Error("an error message parsed as a unit")
	}
}

func TestUnitNamesRefused(t *testing.T) {
	act, _ := Schema().Action("start")
	for _, bad := range []string{"-x", "--now", "a b", "nginx;reboot", "$(id).service", "../../etc/passwd", "a/b.service", `foo\x2d.service`, ".hidden", "", strings.Repeat("a", 300)} {
		if _, err := act.Validate(map[string]any{"unit": bad}); err == nil {
			t.Errorf("unit %q passed the schema", bad)
		}
	}
	for _, good := range []string{"nginx", "nginx.service", "getty@tty1.service", "dev-sda1.device", "a_b:c.timer"} {
		if _, err := act.Validate(map[string]any{"unit": good}); err != nil {
			t.Errorf("unit %q refused: %v", good, err)
		}
	}
}

func TestSystemctlMissing(t *testing.T) {
	h := providertest.New(t, Spec(), `systemctl = "/nonexistent/systemctl"`, providers.Env{})
	_, err := call(h, "status", "nginx.service", false)
	checkResult(t, nil, err, fleet.StatusAborted, false, "systemctl not found (looked for /nonexistent/systemctl): this node does not run systemd")
}

func TestBadConfig(t *testing.T) {
	for _, body := range []string{`timeout = "soon"`, `timeout = "-1s"`, `systemctl = "systemctl"`, `unknown = 1`} {
		f, _ := hclsyntax.ParseConfig([]byte(body), "node.hcl", hcl.InitialPos)
		if _, diags := New(f.Body, providers.Env{}); !diags.HasErrors() {
			t.Errorf("%s: accepted", body)
		}
	}
}

// systemdRunning reports whether systemd is the init system here.
func systemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// realSystemctl skips the test unless systemctl exists and the test runs
// as root, and returns the provider using it.
func realSystemctl(t *testing.T) rpc.Handler {
	t.Helper()
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("no systemctl on this machine")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	return providertest.New(t, Spec(), ``, providers.Env{})
}

// TestWithoutSystemd checks, on a machine where systemd is not PID 1 (a
// CI container), that the real systemctl's refusal reaches the caller as
// a clear error.
func TestWithoutSystemd(t *testing.T) {
	if systemdRunning() {
		t.Skip("systemd is running here")
	}
	h := realSystemctl(t)
	_, err := call(h, "start", "orch-test-none.service", false)
	checkResult(t, nil, err, fleet.StatusAborted, false, "systemd is not running on this node")
}
