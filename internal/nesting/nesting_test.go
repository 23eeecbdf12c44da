package nesting

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	deep := func(open, mid, close string, n int) string {
		return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
	}
	tests := map[string]struct {
		src  string
		json bool
		at   string // "line:column" of the error, "" for none
	}{
		"flat":                {src: "a = 1\nb = [1, 2, 3]\n"},
		"at the limit":        {src: "a = " + deep("(", "1", ")", 5)},
		"parentheses":         {src: "a = " + deep("(", "1", ")", 6), at: "1:10"},
		"block in block":      {src: "x {\n y {\n  z {\n   a = [[[1]]]\n  }\n }\n}\n", at: "4:10"},
		"brackets in strings": {src: `a = "((((((((((]]]"` + "\n"},
		"closers in strings":  {src: "a = " + deep(`f(")", `, "1", ")", 6), at: "1:35"},
		"interpolations":      {src: "a = " + deep(`"${`, "x", `}"`, 3), at: "1:12"},
		"escaped":             {src: `a = "$${((((((((((" + "%%{((((((((((}"` + "\n"},
		"comments":            {src: "# ((((((((((\n// [[[[[[[[[[\n/* {{{{{{{{{{ */ a = 1\n"},
		"heredoc text":        {src: "a = <<EOT\n((((((((((\nEOT\nb = (1)\n"},
		"heredoc interp":      {src: "a = <<-EOT\n  ${" + deep("(", "1", ")", 5) + "}\n  EOT\n", at: "2:8"},
		"unary run":           {src: "a = " + strings.Repeat("! ", 6) + "true\n", at: "1:15"},
		"dashes in names":     {src: "a = x-y-z-w-v-u-t-s\nb = 1e-5 - -1\n"},
		"conditional chain":   {src: "a = " + strings.Repeat("x ? 1 : ", 6) + "2\n", at: "1:47"},
		"conditionals in a list": {src: "a = [" + strings.Repeat("x ? 1 : 2, ", 10) + "]\n" +
			"b = {\n" + strings.Repeat("  k = x ? 1 : 2\n", 10) + "}\n"},
		"json arrays":         {src: `{"a": ` + deep("[", "1", "]", 6) + "}", json: true, at: "1:11"},
		"json template":       {src: `{"a": "` + deep(`(`, "1", `)`, 5) + `", "b": "${` + deep(`(`, "1", `)`, 5) + `}"}`, json: true, at: "1:27"},
		"json escaped quotes": {src: `{"a": "${f(\"((((((((\")}", "b": [[1]]}`, json: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			check := Check
			if tt.json {
				check = CheckJSON
			}
			diags := check("f.hcl", []byte(tt.src), 5)
			got := ""
			if diags.HasErrors() {
				got = strings.TrimPrefix(diags[0].Subject.String(), "f.hcl:")
				got, _, _ = strings.Cut(got, "-")
				got = strings.Replace(got, ",", ":", 1)
			}
			if got != tt.at {
				t.Errorf("error at %q, want %q (%v)", got, tt.at, diags)
			}
		})
	}
}

// TestRealFilesPass checks that every playbook in the tree (but the ones
// testing this limit, named *too_deep*) nests far less than the limit.
func TestRealFilesPass(t *testing.T) {
	var files []string
	for _, root := range []string{"../../testdata", "../../examples"} {
		_ = filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
			if err == nil && (strings.HasSuffix(p, ".hcl") || strings.HasSuffix(p, ".hcl.json")) {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) < 20 {
		t.Fatalf("found only %d files", len(files))
	}
	for _, f := range files {
		if strings.Contains(f, "too_deep") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check := Check
		if strings.HasSuffix(f, ".json") {
			check = CheckJSON
		}
		// 12 is far more than any of them needs, far less than the default.
		if diags := check(f, src, 12); diags.HasErrors() {
			t.Errorf("%s: %v", f, diags)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	src := []byte(strings.Repeat("resource \"rpc\" \"r\" {\n  inputs = { fact = \"cluster\", after = \"${var.x}-${f(1, (2))}\" }\n  depends_on = [rpc.a, rpc.b] # ((\n}\n", 10000))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		Check("f.hcl", src, 0)
	}
}
