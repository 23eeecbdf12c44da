package service

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-fleet/orch/fleet"
)

// installUnit writes a unit file into dir for the test's lifetime; the
// cleanup disables it and removes every trace.
func installUnit(t *testing.T, dir, body string) string {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no %s: %v", dir, err)
	}
	name := fmt.Sprintf("orch-test-%d-%d.service", os.Getpid(), time.Now().UnixNano()%1e6)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	reload := func() {
		if systemdRunning() {
			_ = exec.Command("systemctl", "daemon-reload").Run()
		}
	}
	reload()
	t.Cleanup(func() {
		if systemdRunning() {
			_ = exec.Command("systemctl", "stop", "--", name).Run()
		}
		_ = exec.Command("systemctl", "disable", "--", name).Run()
		_ = os.Remove(path)
		reload()
		if _, err := os.Lstat(filepath.Join("/etc/systemd/system/multi-user.target.wants", name)); err == nil {
			t.Errorf("%s is still enabled after cleanup", name)
		}
	})
	return name
}

const testUnit = `[Unit]
Description=orch service provider test
[Service]
ExecStart=/bin/sleep 300
[Install]
WantedBy=multi-user.target
`

// TestEnableDisableReal enables and disables a unit the test installs,
// with the machine's own systemctl: is-enabled, enable and disable work
// on unit files, so they run for real even where systemd is not PID 1.
func TestEnableDisableReal(t *testing.T) {
	h := realSystemctl(t)
	unit := installUnit(t, "/etc/systemd/system", testUnit)
	link := filepath.Join("/etc/systemd/system/multi-user.target.wants", unit)
	steps := []struct {
		action  string
		noop    bool
		changed bool
		msg     string
		linked  bool
	}{
		{"enable", true, true, "would enable " + unit + " (now disabled)", false},
		{"enable", false, true, "enabled " + unit + ": now enabled", true},
		{"enable", false, false, unit + " already enabled", true},
		{"disable", true, true, "would disable " + unit + " (now enabled)", true},
		{"disable", false, true, "disabled " + unit + ": now disabled", false},
		{"disable", false, false, unit + " already disabled", false},
	}
	for i, s := range steps {
		res, err := call(h, s.action, unit, s.noop)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, s.action, err)
		}
		if res.Changed != s.changed || res.Message != s.msg {
			t.Errorf("step %d %s (noop %v): changed %v %q, want %v %q", i, s.action, s.noop, res.Changed, res.Message, s.changed, s.msg)
		}
		if _, err := os.Lstat(link); (err == nil) != s.linked {
			t.Errorf("step %d %s: %s exists %v, want %v", i, s.action, link, err == nil, s.linked)
		}
	}
	_, err := call(h, "enable", "orch-test-no-such-unit.service", false)
	checkResult(t, nil, err, fleet.StatusInvalidInput, false, "no unit orch-test-no-such-unit.service")
}

// TestStartStopReal starts and stops a unit the test installs. It needs
// systemd as PID 1, which CI containers lack: there it is skipped, and
// TestActions covers the same logic against systemctl's output format.
func TestStartStopReal(t *testing.T) {
	if !systemdRunning() {
		t.Skip("systemd is not PID 1 on this machine: start/stop/restart/reload cannot run for real")
	}
	h := realSystemctl(t)
	unit := installUnit(t, "/run/systemd/system", testUnit)
	for i, s := range []struct {
		action  string
		noop    bool
		changed bool
		active  string
	}{
		{"start", true, true, "inactive"},
		{"start", false, true, "active"},
		{"start", false, false, "active"},
		{"restart", false, true, "active"},
		{"stop", false, true, "inactive"},
		{"stop", false, false, "inactive"},
	} {
		res, err := call(h, s.action, unit, s.noop)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, s.action, err)
		}
		st, _ := call(h, "status", unit, false)
		if res.Changed != s.changed || st.Data.(map[string]any)["active_state"] != s.active {
			t.Errorf("step %d %s: changed %v, state %v; want %v %s", i, s.action, res.Changed, st.Data, s.changed, s.active)
		}
	}
}
