package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "7b75855c0ffee0123456789abcdef0123456789a"
	tests := map[string]struct {
		stamped string
		bi      *debug.BuildInfo
		ok      bool
		want    string
	}{
		"ldflags win over build info": {"v1.4.0", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, true, "v1.4.0"},
		"go install module@version":   {"dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, true, "v1.3.0"},
		"pseudo-version from vcs":     {"dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261125034431-7b75855c0ffe+dirty"}}, true, "v0.0.0-20261125034431-7b75855c0ffe+dirty"},
		"devel with a clean revision": {"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, true, "7b75855c0ffe"},
		"devel with a dirty tree":     {"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, true, "7b75855c0ffe-dirty"},
		"devel without vcs":           {"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "dev"},
		"no build info":               {"dev", nil, false, "dev"},
		"empty stamp":                 {"", nil, false, "dev"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := buildVersion(tc.stamped, tc.bi, tc.ok); got != tc.want {
				t.Errorf("buildVersion = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionCommand runs `orch version` in the test binary, which has
// build info but no -ldflags stamp.
func TestVersionCommand(t *testing.T) {
	code, out, _ := runOrch(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "orch ") || strings.TrimSpace(out) == "orch" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}
