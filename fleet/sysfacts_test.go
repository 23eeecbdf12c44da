package fleet

import (
	"encoding/json"
	"os"
	"testing"
)

// TestFilterMatchSystemFacts matches filters on dotted names against the
// system facts of a Debian node as the registry carries them
// (testdata/sysfacts.json is node/sysfacts' debian12 fixture, as JSON).
func TestFilterMatchSystemFacts(t *testing.T) {
	b, err := os.ReadFile("testdata/sysfacts.json")
	if err != nil {
		t.Fatal(err)
	}
	info := &NodeInfo{Identity: "web1"}
	if err := json.Unmarshal(b, &info.Facts); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		filter string
		want   bool
	}{
		"family":              {"os.family=debian", true},
		"other family":        {"os.family=redhat", false},
		"major release":       {"os.release_major>=12", true},
		"memory":              {"memory.total_mb>=4096", true},
		"cpus":                {"cpu.count<4", true},
		"ip regex":            {`networking.ip=/^192\.0\.2\./`, true},
		"kernel regex":        {"kernel.release=~amd64$", true},
		"fqdn":                {"networking.fqdn=web1.example.com", true},
		"missing leaf !=":     {"os.nosuch!=x", true},
		"missing leaf ==":     {"os.nosuch=x", false},
		"through a leaf":      {"os.family.x=debian", false},
		"top-level alongside": {"cluster=alfa", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ff, err := ParseFactFilter(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			f := Filter{Facts: []FactFilter{ff}}
			if got := f.Match(info); got != tc.want {
				t.Errorf("-F %s: match = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
}

func TestFactString(t *testing.T) {
	tests := map[string]struct {
		v    any
		want string
	}{
		"string": {"debian", "debian"},
		"number": {float64(4096), "4096"},
		"bool":   {true, "true"},
		"map":    {map[string]any{"release": "12", "family": "debian"}, `{"family":"debian","release":"12"}`},
		"list":   {[]any{"a", "b"}, "[a b]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := FactString(tc.v); got != tc.want {
				t.Errorf("FactString(%v) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}
