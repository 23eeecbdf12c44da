package clientconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolvePrecedence: flags over env over the first config file found
// over defaults, each with its source.
func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "home", ".config", "orch", "client.hcl")
	system := filepath.Join(dir, "etc", "client.hcl")
	for path, src := range map[string]string{
		user:   "servers = [\"tls://a:4222\", \"tls://b:4222\"]\nkey = \"ops.nk\"\ntls_ca = \"~/ca.pem\"\nbroker_user = \"ops\"\n",
		system: "collective = \"system\"\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"HOME": filepath.Join(dir, "home"), "ORCH_BROKER_USER": "env-user", "ORCH_TLS_CERT": "env.pem"}
	cfg, err := Resolve(Sources{Getenv: func(k string) string { return env[k] }, Flags: map[string]string{"tls-cert": "flag.pem"},
		Files: []string{user, system}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		Servers:    {"tls://a:4222,tls://b:4222", "file " + user + ":1"},
		SigningKey: {filepath.Join(filepath.Dir(user), "ops.nk"), "file " + user + ":2"},
		TLSCA:      {filepath.Join(dir, "home", "ca.pem"), "file " + user + ":3"},
		User:       {"env-user", "env ORCH_BROKER_USER"},
		TLSCert:    {"flag.pem", "flag --tls-cert"},
		Collective: {"orch", "default"}, // the system file is not read: the user's was found first
		Creds:      {"", ""},
	}
	got := map[string]Setting{}
	for _, s := range cfg.Settings() {
		got[s.Key] = s
	}
	for k, w := range want {
		if got[k].Value != w[0] || got[k].Source != w[1] {
			t.Errorf("%s = %q from %q, want %q from %q", k, got[k].Value, got[k].Source, w[0], w[1])
		}
	}
}

func TestResolveRefusesUnknownSetting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(path, []byte("servers = [\"nats://h:4222\"]\nbroker_password = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(Sources{Getenv: func(string) string { return "" }, Files: []string{path}})
	if err == nil || !strings.Contains(err.Error(), "client.hcl:2") || !strings.Contains(err.Error(), `unknown setting "broker_password"`) {
		t.Fatalf("got %v, want an error at client.hcl:2 naming broker_password", err)
	}
}
