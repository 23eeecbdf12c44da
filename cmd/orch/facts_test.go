package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/node/sysfacts"
)

// TestFactsDotted runs orch facts and discover on the system facts of a
// real in-process fleet: dotted names count the nested value, a map fact
// reports each leaf, and a facts.d fact shows on the node that has it.
func TestFactsDotted(t *testing.T) {
	local, _ := sysfacts.Collector{}.Collect(context.Background())
	family, ok := fleet.LookupFact(local, "os.family")
	if !ok {
		t.Skip("this machine has no /etc/os-release")
	}
	factsD := filepath.Join(t.TempDir(), "facts.d")
	if err := os.Mkdir(factsD, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(factsD, "site.txt"), []byte("site.rack=r9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := startFleet(t, map[string]string{"web1": "alfa", "web2": "alfa", "web3": "bravo"}, func(id string) string {
		if id != "web3" {
			return ""
		}
		return fmt.Sprintf("system_facts { dir = %q }\n", factsD)
	})
	tests := map[string]struct {
		args     []string
		contains []string
		absent   []string
	}{
		"dotted":         {[]string{"facts", "os.family"}, []string{"Report for fact: os.family", fmt.Sprintf("%-30s found 3 times", family)}, []string{"(unset)"}},
		"map":            {[]string{"facts", "os"}, []string{"Report for fact: os.arch", "Report for fact: os.family", "found 3 times"}, []string{"map["}},
		"facts.d":        {[]string{"facts", "site.rack"}, []string{"r9                             found 1 times", "(unset)                        found 2 times"}, nil},
		"numeric dotted": {[]string{"discover", "-F", "cpu.count>=1", "-F", "os.family=" + fleet.FactString(family)}, []string{"web1", "web2", "web3"}, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := f.orch(tt.args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}
	code, out, _ := f.orch("facts", "--json", "os")
	var got struct {
		Fact  string                         `json:"fact"`
		Facts map[string]map[string][]string `json:"facts"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got.Facts["os.family"][fleet.FactString(family)]) != 3 {
		t.Fatalf("orch facts --json os: exit %d, %v\n%s", code, err, out)
	}
}
