package file

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffMatchesDiffUtility compares Diff with diff -u on real files,
// where the diff utility is installed.
func TestDiffMatchesDiffUtility(t *testing.T) {
	long := strings.Repeat("line\n", 20)
	tests := map[string][2]string{
		"one line changed":       {"a\nb\nc\n", "a\nB\nc\n"},
		"added at end":           {"a\nb\n", "a\nb\nc\n"},
		"removed at start":       {"a\nb\nc\nd\ne\n", "b\nc\nd\ne\n"},
		"new file":               {"", "x\ny\n"},
		"emptied":                {"x\ny\n", ""},
		"no newline at end":      {"a\nb", "a\nb\n"},
		"two hunks":              {"1\n" + long + "2\n" + long + "3\n", "one\n" + long + "2\n" + long + "three\n"},
		"change in the middle":   {"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n"},
		"insertions and removal": {"a\nb\nc\nd\n", "a\nx\nc\nd\ny\n"},
	}
	diffBin, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("no diff utility to compare with")
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			_ = os.WriteFile(a, []byte(tt[0]), 0o644)
			_ = os.WriteFile(b, []byte(tt[1]), 0o644)
			out, _ := exec.Command(diffBin, "-u", "--label", "old", "--label", "new", a, b).Output()
			if got := Diff("old", "new", tt[0], tt[1]); got != string(out) {
				t.Errorf("Diff:\n%s\ndiff -u:\n%s", got, out)
			}
		})
	}
	if Diff("a", "b", "same\n", "same\n") != "" {
		t.Error("equal texts have a diff")
	}
}
