package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseInterspersed parses fs from args, allowing flags after positional
// arguments (orch apply deploy.hcl -var cluster=bravo), which the standard
// flag package alone does not. A "--" ends flag parsing. It returns the
// positional arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// fs.Parse stops at "--" and consumes it; detect that by looking at
		// what came before rest in args.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// newFlagSet returns a FlagSet for the command name that reports errors
// instead of exiting and writes its usage, starting with the command's
// synopsis from the table, to w.
func newFlagSet(name string, w io.Writer) *flag.FlagSet {
	return flagSetWithSynopsis(name, synopsis(name), w)
}

// flagSetWithSynopsis is newFlagSet for a hidden subcommand that has no row
// in the table (demo web).
func flagSetWithSynopsis(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("orch "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: %s\n\nFlags (before or after the arguments; docs/cli.md has the details):\n", synopsis)
		fs.PrintDefaults()
	}
	if s, ok := w.(flagSink); ok {
		s.addFlagSet(fs)
	}
	return fs
}

// flagSink is a usage writer that also wants the flag sets written to it:
// the completion and man page generators (docgen.go) collect each
// command's flags by running it with -h and such a writer as stderr.
type flagSink interface {
	addFlagSet(fs *flag.FlagSet)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
