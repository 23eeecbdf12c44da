package node

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig: any agent config text loads or is refused with
// diagnostics, never a panic, and a config that loads has an identity.
func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{"testdata/web1.hcl"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`identity = "web1"` + "\n" + `facts = { cluster = "alfa", n = 3, nested = { a = [1, "x"] } }`))
	f.Add([]byte(`client "me" { key = "UABC" }` + "\n" + `policy { default = "deny" }`))
	f.Add([]byte(`identity = "${"`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := ParseConfig(src, filepath.Join(dir, "agent.hcl"))
		if diags.HasErrors() {
			return
		}
		if cfg == nil || cfg.Identity == "" {
			t.Fatalf("config without errors but no identity: %+v", cfg)
		}
	})
}
