// Package hclfmt is what orch fmt does to playbook files: find them and
// format them canonically (hclwrite), refusing files that do not parse.
//
//	files, err := hclfmt.Files([]string{"."})
//	out, changed, diags := hclfmt.Format(name, src)
package hclfmt

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/orch-fleet/orch/internal/nesting"
)

// Files returns the files paths name: a file is itself, a directory stands
// for the .hcl files under it, walked in lexical order.
func Files(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".hcl") {
				files = append(files, path)
			}
			return nil
		})
	}
	return files, nil
}

// Format returns src formatted canonically and whether that changed it;
// diagnostics (and no output) when src does not parse or nests deeper
// than nesting.DefaultMax.
func Format(filename string, src []byte) (out []byte, changed bool, diags hcl.Diagnostics) {
	if diags := nesting.Check(filename, src, 0); diags.HasErrors() {
		return nil, false, diags
	}
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, false, diags
	}
	out = hclwrite.Format(src)
	return out, !bytes.Equal(src, out), nil
}
