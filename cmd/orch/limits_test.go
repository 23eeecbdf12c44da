package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostilePlaybooks checks that inputs which used to crash or run away
// are invalid input (exit 2) with a located diagnostic, and that the
// instance limits are overridable from the command line.
func TestHostilePlaybooks(t *testing.T) {
	deep := "resource \"rpcutil_ping\" \"p\" {\n  description = " + strings.Repeat("(", 70000) + `"x"` + strings.Repeat(")", 70000) + "\n}\n"
	tests := map[string]struct {
		src  string
		args []string // the playbook's path is appended
		code int
		want string // in stderr
	}{
		"validate too deep": {src: deep, args: []string{"validate"}, code: exitInvalid, want: "Expression nested too deeply"},
		"fmt too deep":      {src: deep, args: []string{"fmt", "-check"}, code: exitInvalid, want: "Expression nested too deeply"},
		"count 1e18":        {src: "resource \"rpcutil_ping\" \"p\" {\n  count = 1e18\n}\n", args: []string{"validate"}, code: exitInvalid, want: "p.hcl line 2"},
		"count raised": {src: "resource \"rpcutil_ping\" \"p\" {\n  count = 10001\n}\n",
			args: []string{"validate", "--max-instances", "10001"}, code: exitOK},
		"catalog lowered": {src: "resource \"rpcutil_ping\" \"p\" {\n  count = 3\n}\n",
			args: []string{"catalog", "--max-catalog-instances", "2"}, code: exitInvalid, want: "Too many instances"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.hcl")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runOrch(t, append(tt.args, path)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d; stderr:\n%.2000s", code, tt.code, errOut)
			}
		})
	}
}
