package demofleet

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "copy the example's playbook into playbook/")

// TestPlaybookIsTheExample keeps the embedded copy of the webapp playbook
// identical to examples/webapp, which users read and run.
func TestPlaybookIsTheExample(t *testing.T) {
	files := map[string]string{
		"deploy.hcl":                "../../examples/webapp/deploy.hcl",
		"deploy-classic.hcl":        "../../examples/webapp/deploy-classic.hcl",
		"modules/upgrade/main.hcl":  "../../examples/webapp/modules/upgrade/main.hcl",
		"modules/rotation/main.hcl": "../../examples/webapp/modules/rotation/main.hcl",
	}
	for name, example := range files {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(example)
			if err != nil {
				t.Fatal(err)
			}
			copyPath := filepath.Join("playbook", filepath.FromSlash(name))
			if *update {
				if err := os.WriteFile(copyPath, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := playbook.ReadFile("playbook/" + name)
			if err != nil {
				t.Fatal(err)
			}
			if !*update && !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s: run go test ./internal/demofleet -run TestPlaybookIsTheExample -update", copyPath, example)
			}
		})
	}
	n := 0
	_ = fs.WalkDir(playbook, "playbook", func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if n != len(files) {
		t.Errorf("playbook/ holds %d files, the test knows %d", n, len(files))
	}
}
