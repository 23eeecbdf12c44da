package views

import (
	"encoding/json"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
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

// Diagnostics prints HCL diagnostics on stderr, with a snippet of the
// source when its file can be read, and returns how many were errors.
func (v *View) Diagnostics(diags hcl.Diagnostics) int {
	files := map[string]*hcl.File{}
	errs := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		}
		if d.Subject == nil {
			continue
		}
		if _, ok := files[d.Subject.Filename]; ok {
			continue
		}
		if b, err := os.ReadFile(d.Subject.Filename); err == nil {
			files[d.Subject.Filename] = &hcl.File{Bytes: b}
		}
	}
	w := hcl.NewDiagnosticTextWriter(v.stderr, files, 100, false)
	_ = w.WriteDiagnostics(diags)
	return errs
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
