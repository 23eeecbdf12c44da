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

// newFlagSet returns a FlagSet that reports errors instead of exiting and
// writes its usage to w.
func newFlagSet(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("orch "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: orch %s\n\nFlags (before or after the arguments; docs/cli.md has the details):\n", synopsis(name))
		fs.PrintDefaults()
	}
	return fs
}

// synopsis is the one-line usage of a command.
func synopsis(name string) string {
	switch name {
	case "apply", "plan":
		return name + " PLAYBOOK [-var NAME=VALUE]... [-var-file FILE]... [flags]"
	case "validate", "graph", "catalog":
		return name + " PLAYBOOK [-var NAME=VALUE]... [-var-file FILE]..."
	case "fmt":
		return "fmt [-check] [-diff] [PATH]..."
	case "rpc":
		return "rpc AGENT ACTION [INPUT=VALUE]... [filters] | rpc --describe AGENT"
	case "ping", "discover":
		return name + " [-F FACT=VALUE] [-C CLASS] [-A AGENT] [-I IDENTITY] [flags]"
	case "facts":
		return "facts FACT [filters]"
	case "agent":
		return "agent --config FILE [--check]"
	case "broker":
		return "broker [--listen ADDR] [--store-dir DIR] [flags]"
	case "keygen":
		return "keygen --out FILE"
	case "demo", "demo up":
		return name + " [--dir DIR]"
	}
	return name + " [flags]"
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
