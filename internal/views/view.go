package views

import (
	"encoding/json"
	"io"
	"maps"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/orch-fleet/orch/playbook"
	"golang.org/x/term"
)

// ViewType selects a command's renderer.
type ViewType int

// The renderers.
const (
	Human ViewType = iota // text for people
	JSON                  // JSON for scripts
)

// View holds the streams every command view writes to: results on stdout,
// diagnostics and notes on stderr.
type View struct {
	stdout io.Writer
	stderr io.Writer
}

// NewView returns the view of a command writing to stdout and stderr.
func NewView(stdout, stderr io.Writer) *View {
	return &View{stdout: stdout, stderr: stderr}
}

// Diagnostics writes diags with a source snippet under each and returns
// how many are errors. files is the parser's file cache
// (playbook.Result.Files), so the snippet is the text that was compiled; a
// file missing from it is read from disk (the agent config). The writer is
// the compiler's, which the goldens under testdata/ also use.
func (v *View) Diagnostics(diags hcl.Diagnostics, files map[string]*hcl.File) int {
	all := maps.Clone(files)
	if all == nil {
		all = map[string]*hcl.File{}
	}
	for _, d := range diags {
		if d.Subject == nil || all[d.Subject.Filename] != nil {
			continue
		}
		if b, err := os.ReadFile(d.Subject.Filename); err == nil {
			all[d.Subject.Filename] = &hcl.File{Bytes: b}
		}
	}
	return playbook.WriteDiagnostics(v.stderr, all, diags, false)
}

// JSON writes x as indented JSON on stdout.
func (v *View) JSON(x any) error {
	enc := json.NewEncoder(v.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(x)
}

// IsTerminal reports whether w is a terminal, where the live view of a run
// can redraw itself.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
