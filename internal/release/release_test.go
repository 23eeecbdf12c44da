package release

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/node"
)

func TestPackageVersion(t *testing.T) {
	tests := map[string]string{
		"v1.2.0":              "1.2.0",
		"1.2.0":               "1.2.0",
		"v1.2.0-3-gabcdef0":   "1.2.0-3-gabcdef0",
		"v1.2.0-rc1":          "1.2.0-rc1",
		"abcdef0":             "0.0.0-git.abcdef0",
		"7b75855":             "0.0.0-git.7b75855",
		"7b75855-dirty":       "0.0.0-git.7b75855.dirty",
		"dev":                 "0.0.0-git.dev",
		" v2.0.0\n":           "2.0.0",
		"v0.0.0-2026-abc+dir": "0.0.0-2026-abc+dir",
	}
	for in, want := range tests {
		if got := PackageVersion(in); got != want {
			t.Errorf("PackageVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConffile checks the packaged /etc/orch/node.hcl the way
// `orch agent --check` does (with the data dir moved to a temp dir, since
// --check creates the node key there).
func TestConffile(t *testing.T) {
	src, err := File("node.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := node.ParseConfig(src, ConfPath)
	if diags.HasErrors() {
		t.Fatalf("node.hcl: %v", diags)
	}
	if cfg.DataDir != DataDir || !strings.HasPrefix(cfg.AuditLog, LogDir+"/") {
		t.Errorf("data_dir %q, audit_log %q: want them under %s and %s, which the unit makes writable", cfg.DataDir, cfg.AuditLog, DataDir, LogDir)
	}
	cfg.DataDir, cfg.AuditLog = t.TempDir(), ""
	if _, diags := node.New(cfg, node.Options{}); diags.HasErrors() {
		t.Fatalf("node.New: %v", diags)
	}
}

// TestUnit checks the settings of orch-agent.service that the agent's
// behaviour depends on.
func TestUnit(t *testing.T) {
	b, err := File("orch-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	want := map[string]string{
		"ExecStart":      BinPath + " agent --config " + ConfPath,
		"ExecReload":     "/bin/kill -HUP $MAINPID",
		"Restart":        "on-failure",
		"StateDirectory": "orch",
		"LogsDirectory":  "orch",
		"ProtectSystem":  "strict",
		"KillMode":       "mixed",
	}
	for k, v := range want {
		if got := settings[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	stop, err := time.ParseDuration(strings.Join(settings["TimeoutStopSec"], ""))
	if graceful := node.DefaultShutdownTimeout + node.DeregisterTimeout; err != nil || stop <= graceful {
		t.Errorf("TimeoutStopSec = %v (%v): want more than the agent's graceful stop, %v", settings["TimeoutStopSec"], err, graceful)
	}
}
