package clidoc

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sample is a program whose texts carry every character the generators
// must escape.
func sample() Program {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("config", "/etc/x.hcl", "config `file` (HCL: [it's] \\here\\)")
	fs.Bool("check", false, "check and exit")
	var v stringsFlag
	fs.Var(&v, "F", "fact filter `FACT=VALUE`")
	return Program{
		Name: "prog", Summary: "does things", Version: "v1.0.0",
		Description: ".starts with a dot - and has dashes",
		Commands: []Command{
			{Name: "run", Synopsis: "prog run --config FILE", Summary: "run it: 'now'", Flags: FlagsOf(fs)},
			{Name: "version", Synopsis: "prog version", Summary: "print the version"},
		},
		ExitCodes: []ExitCode{{0, "ok"}, {2, "bad command line"}},
	}
}

type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func TestFlagsOf(t *testing.T) {
	want := []Flag{
		{Name: "F", Arg: "FACT=VALUE", Usage: "fact filter FACT=VALUE"},
		{Name: "check", Usage: "check and exit"},
		{Name: "config", Arg: "file", Usage: "config file (HCL: [it's] \\here\\)", Default: "/etc/x.hcl"},
	}
	if diff := cmp.Diff(want, sample().Commands[0].Flags); diff != "" {
		t.Errorf("FlagsOf (-want +got):\n%s", diff)
	}
}

// TestCompletion checks that each script names every command and flag and
// that the shell itself accepts its syntax (when that shell is installed).
func TestCompletion(t *testing.T) {
	tests := map[string]struct {
		check []string // the shell's syntax check
		want  []string
	}{
		"bash": {[]string{"bash", "-n"}, []string{"complete -o default -F _prog prog", `run) flags="-F --check --config"`}},
		"zsh":  {[]string{"zsh", "-n"}, []string{"#compdef prog", `'--config[config file (HCL\: \[it'\''s\] \here\)]:file:_files'`}},
		"fish": {[]string{"fish", "--no-execute"}, []string{"-a run -d 'run it: \\'now\\''", "-l config -r", "-s F -r"}},
	}
	for shell, tc := range tests {
		t.Run(shell, func(t *testing.T) {
			var b bytes.Buffer
			if err := Completion(&b, shell, sample()); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("missing %q in:\n%s", w, b.String())
				}
			}
			if _, err := exec.LookPath(tc.check[0]); err != nil {
				t.Logf("%s not installed: syntax not checked", tc.check[0])
				return
			}
			path := filepath.Join(t.TempDir(), "completion")
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tc.check[0], append(tc.check[1:], path)...).CombinedOutput(); err != nil {
				t.Errorf("%s rejects the script: %v\n%s\n%s", shell, err, out, b.String())
			}
		})
	}
	if err := Completion(&bytes.Buffer{}, "tcsh", sample()); err == nil {
		t.Error("tcsh: want an error")
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteManPages(dir, sample())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("wrote %v, want prog.1, prog-run.1, prog-version.1", files)
	}
	tests := map[string][]string{
		"prog.1":         {".TH PROG 1", "prog \\- does things", "\\&.starts with a dot \\- and has dashes", ".BR prog\\-run (1)", ".B 2\nbad command line"},
		"prog-run.1":     {".TH PROG\\-RUN 1", ".BI \\-\\-config \" file\"", "(default: /etc/x.hcl)", ".B \\-\\-check\n", "\\ehere\\e"},
		"prog-version.1": {".SH SYNOPSIS\n.nf\nprog version\n.fi"},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				if !strings.Contains(string(b), w) {
					t.Errorf("missing %q in:\n%s", w, b)
				}
			}
			if _, err := exec.LookPath("groff"); err != nil {
				return
			}
			out, err := exec.Command("groff", "-man", "-ww", "-z", filepath.Join(dir, name)).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("groff warns: %v\n%s", err, out)
			}
		})
	}
}
