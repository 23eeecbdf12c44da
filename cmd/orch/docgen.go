package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/orch-fleet/orch/internal/clidoc"
)

// runCompletion is `orch completion bash|zsh|fish`.
func runCompletion(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("completion", e.stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(pos) != 1 {
		return usageErr(e, "completion", "want one shell: usage: %s", synopsis("completion"))
	}
	if err := clidoc.Completion(e.stdout, pos[0], program(ctx)); err != nil {
		return usageErr(e, "completion", "%v", err)
	}
	return exitOK
}

// runMan is `orch man DIR`.
func runMan(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("man", e.stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(pos) != 1 {
		return usageErr(e, "man", "want one directory: usage: %s", synopsis("man"))
	}
	files, err := clidoc.WriteManPages(pos[0], program(ctx))
	if err != nil {
		fmt.Fprintf(e.stderr, "orch man: %v\n", err)
		return exitFailed
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintln(e.stdout, f)
	}
	return exitOK
}

// program describes orch for the generators: the command table, and each
// command's flags as its own flag set declares them.
func program(ctx context.Context) clidoc.Program {
	p := clidoc.Program{
		Name:    "orch",
		Summary: "declarative orchestration for server fleets",
		Version: currentVersion(),
		Description: "orch compiles HCL playbooks into a graph of resources and applies them across " +
			"the nodes of a fleet over NATS; every node runs orch agent. Documentation: docs/ in the source, " +
			"/usr/share/doc/orch in the package.",
		ExitCodes: []clidoc.ExitCode{
			{Code: exitOK, Meaning: "everything applied or answered"},
			{Code: exitFailed, Meaning: "something failed on the fleet: a node failed, did not answer, or a check never passed"},
			{Code: exitInvalid, Meaning: "the playbook or the command line is invalid; nothing was changed"},
			{Code: exitBug, Meaning: "an internal error: a bug in orch, to be reported"},
		},
	}
	for name, c := range commands() {
		p.Commands = append(p.Commands, clidoc.Command{
			Name: name, Synopsis: c.synopsis, Summary: c.summary, Flags: commandFlags(ctx, c),
		})
	}
	return p
}

// commandFlags runs c with -h, which every command answers by parsing its
// flag set and stopping, and returns the flags of the first flag set it
// made (none for a command without flags, such as version).
func commandFlags(ctx context.Context, c command) []clidoc.Flag {
	sink := &flagCollector{}
	e := &env{stdout: io.Discard, stderr: sink, getenv: func(string) string { return "" }}
	c.run(ctx, e, []string{"-h"})
	if len(sink.sets) == 0 {
		return nil
	}
	return clidoc.FlagsOf(sink.sets[0])
}

// flagCollector is a flagSink that discards the usage text.
type flagCollector struct {
	sets []*flag.FlagSet
}

func (c *flagCollector) Write(p []byte) (int, error) { return len(p), nil }
func (c *flagCollector) addFlagSet(fs *flag.FlagSet) { c.sets = append(c.sets, fs) }

var _ flagSink = (*flagCollector)(nil)
