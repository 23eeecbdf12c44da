package hclfmt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormat(t *testing.T) {
	tests := map[string]struct {
		src, want string
		changed   bool
		invalid   bool
	}{
		"formatted":   {src: "a = 1\n", want: "a = 1\n"},
		"aligned":     {src: "a=1\nbb = 2\n", want: "a  = 1\nbb = 2\n", changed: true},
		"indented":    {src: "x {\na = 1\n}\n", want: "x {\n  a = 1\n}\n", changed: true},
		"not parsing": {src: "a = {\n", invalid: true},
		"too deep":    {src: "a = " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + "\n", invalid: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out, changed, diags := Format("x.hcl", []byte(tt.src))
			if diags.HasErrors() != tt.invalid {
				t.Fatalf("diags %v, want invalid=%v", diags, tt.invalid)
			}
			if tt.invalid {
				return
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" || changed != tt.changed {
				t.Errorf("changed %v, want %v; -want +got:\n%s", changed, tt.changed, diff)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.hcl", "a/c.hcl", "a/notes.txt", "d.tf"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Files([]string{dir, filepath.Join(dir, "d.tf")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a/c.hcl"), filepath.Join(dir, "b.hcl"), filepath.Join(dir, "d.tf")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
	if _, err := Files([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("no error for a missing path")
	}
}
