package clidoc

import (
	"flag"
	"fmt"
	"io"
	"sort"
)

// Program describes a program with subcommands (PROGRAM COMMAND [flags]).
type Program struct {
	Name     string // the executable's name
	Summary  string // one line: what the program is
	Version  string // printed in the man pages' footer
	Commands []Command
	// ExitCodes are the exit statuses every command shares, for the man
	// pages.
	ExitCodes []ExitCode
	// Description is the top-level man page's DESCRIPTION paragraph.
	Description string
}

// Command is one subcommand.
type Command struct {
	Name     string // "agent"
	Synopsis string // one-line usage, starting with the program's name
	Summary  string // what it does
	Flags    []Flag
}

// Flag is one flag of a command, as the flag package knows it.
type Flag struct {
	Name    string // without dashes
	Arg     string // the value's placeholder ("file"); empty for a boolean flag
	Usage   string
	Default string // empty when the zero value
}

// ExitCode is one exit status and what it means.
type ExitCode struct {
	Code    int
	Meaning string
}

// FlagsOf lists the flags of fs in the order of their names, with their
// placeholders as flag.PrintDefaults prints them.
func FlagsOf(fs *flag.FlagSet) []Flag {
	var flags []Flag
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		}
		def := f.DefValue
		if def == "false" || def == "0" || def == "[]" {
			def = ""
		}
		flags = append(flags, Flag{Name: f.Name, Arg: arg, Usage: usage, Default: def})
	})
	return flags
}

// sorted returns p's commands sorted by name.
func (p Program) sorted() []Command {
	cmds := append([]Command(nil), p.Commands...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return cmds
}

// dashed is a flag as a user types it: -F for a one-letter flag, --name
// otherwise (Go's flag package accepts one or two dashes alike).
func (f Flag) dashed() string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// Completion writes the completion script for shell (bash, zsh or fish).
func Completion(w io.Writer, shell string, p Program) error {
	switch shell {
	case "bash":
		return writeBash(w, p)
	case "zsh":
		return writeZsh(w, p)
	case "fish":
		return writeFish(w, p)
	}
	return fmt.Errorf("unknown shell %q: want bash, zsh or fish", shell)
}

// Shells are the shells Completion writes scripts for.
func Shells() []string { return []string{"bash", "fish", "zsh"} }
