package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/rpc"
)

// TestConnectionSettings: the agent's TLS and credential settings resolve
// relative to the config file, and mismatched ones are refused by --check.
func TestConnectionSettings(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		body, want string
	}{
		"tls and password file": {"tls_ca = \"ca.pem\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nbroker_user = \"n\"\nbroker_password_file = \"pw\"\n", ""},
		"cert without key":      {"tls_cert = \"c.pem\"\n", "tls_cert and tls_key go together"},
		"two credentials":       {"broker_user = \"n\"\nbroker_password = \"p\"\nbroker_creds = \"x.creds\"\n", "one kind of broker credentials"},
		"user without password": {"broker_user = \"n\"\n", "broker_user needs broker_password_file"},
		"missing password file": {"broker_user = \"n\"\nbroker_password_file = \"nope\"\n", "broker_password_file"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, diags := ParseConfig([]byte("identity = \"web1\"\n"+tc.body), filepath.Join(dir, "node.hcl"))
			if tc.want != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
					t.Fatalf("got %v, want an error naming %q", diags, tc.want)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			sec := c.Security()
			if sec.TLSCA != filepath.Join(dir, "ca.pem") || sec.PasswordFile != filepath.Join(dir, "pw") {
				t.Errorf("paths not relative to the config file: %+v", sec)
			}
			if sec.InboxPrefix != rpc.NodeInboxPrefix(rpc.DefaultCollective, "web1") {
				t.Errorf("inbox prefix %q", sec.InboxPrefix)
			}
		})
	}
}
