package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentCheckIdentity: `orch agent --check` accepts host names as
// identities (dots, capitals) and refuses what cannot be a host name,
// stating the rule.
func TestAgentCheckIdentity(t *testing.T) {
	cases := map[string]struct {
		identity string
		want     int
		out      string
	}{
		"fqdn":         {"db1.Example.com", exitOK, "config ok (identity db1.Example.com)"},
		"dotted":       {"web.3", exitOK, "config ok (identity web.3)"},
		"non-ascii":    {"wéb1", exitInvalid, "RFC 1123"},
		"colon":        {"web:1", exitInvalid, "RFC 1123"},
		"underscore":   {"web_1", exitInvalid, "RFC 1123"},
		"trailing dot": {"web.", exitInvalid, "empty label"},
		"leading dash": {"-web", exitInvalid, "starts or ends with '-'"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "node.hcl")
			cfg := fmt.Sprintf("identity = %q\ndata_dir = %q\n", tc.identity, dir)
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runOrch(t, "agent", "--config", path, "--check")
			if code != tc.want || !strings.Contains(out+errOut, tc.out) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tc.want, tc.out, out, errOut)
			}
		})
	}
}
