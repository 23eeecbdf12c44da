// Command orch is the single binary of orch: the client commands that
// compile and apply playbooks and call agents, the node daemon (orch agent)
// and the embedded broker (orch broker). It parses flags and calls packages;
// the logic lives in those packages.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/orch-fleet/orch/internal/views"
)

// Exit codes shared by every command.
const (
	exitOK      = 0 // everything applied / answered
	exitFailed  = 1 // something failed on the fleet
	exitInvalid = 2 // bad playbook or command line; nothing was changed
	exitBug     = 3 // an internal error: a bug in orch, to be reported
)

// env is what a command may touch of the outside world, so that tests can run
// commands in-process.
type env struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// signals delivers SIGINT/SIGTERM/SIGHUP to long-running commands.
	signals <-chan os.Signal
	// stdin answers questions (a rollout's confirmation); nil: nobody can.
	stdin io.Reader
}

// view returns the views' streams of e.
func (e *env) view() *views.View { return views.NewView(e.stdout, e.stderr) }

// viewType is the renderer that -json selects.
func viewType(json bool) views.ViewType {
	if json {
		return views.JSON
	}
	return views.Human
}

// command is one subcommand of orch: its row in the table that the
// top-level usage and `orch NAME -h` are printed from.
type command struct {
	synopsis string // the one-line usage, starting "orch NAME"
	summary  string // what it does, for the top-level usage
	run      func(ctx context.Context, e *env, args []string) int
}

// commands returns the table of subcommands; each run function lives in the
// file named after its command (or group of commands).
func commands() map[string]command {
	const (
		playbookArgs = " PLAYBOOK [-var NAME=VALUE]... [-var-file FILE]..."
		filters      = " [-F FACT=VALUE] [-C CLASS] [-A AGENT] [-I IDENTITY]"
	)
	return map[string]command{
		"version":  {"orch version", "print the version", runVersion},
		"agent":    {"orch agent --config FILE [--check]", "run the node daemon", runAgent},
		"broker":   {"orch broker [--listen ADDR] [--config FILE] [--store-dir DIR] [flags] | orch broker gen-auth [flags]", "run an embedded NATS broker with JetStream, or write its authorization config", runBroker},
		"config":   {"orch config [--json] [connection flags]", "show the effective connection settings and their source", runConfig},
		"keygen":   {"orch keygen --out FILE", "create an nkey seed file and print its public key", runKeygen},
		"ping":     {"orch ping" + filters + " [flags]", "ping every discovered node", runPing},
		"discover": {"orch discover" + filters + " [flags]", "list the nodes a filter selects", runDiscover},
		"facts":    {"orch facts FACT [filters]", "count the values of a fact across the fleet", runFacts},
		"rpc":      {"orch rpc AGENT ACTION [INPUT=VALUE]... [filters] | orch rpc --describe AGENT", "call an agent action on the fleet, or describe an agent", runRPC},
		"validate": {"orch validate" + playbookArgs, "compile and check a playbook (no network)", runValidate},
		"graph":    {"orch graph" + playbookArgs, "print a playbook's dependency graph as DOT", runGraph},
		"catalog":  {"orch catalog" + playbookArgs, "print a playbook's compiled catalog as JSON", runCatalog},
		"fmt":      {"orch fmt [-check] [-diff] [PATH]...", "format playbook files canonically", runFmt},
		"apply":    {"orch apply" + playbookArgs + " [flags]", "apply a playbook to the fleet", runApply},
		"plan":     {"orch plan" + playbookArgs + " [flags]", "show what apply would do, changing nothing", runPlan},
		"emulate":  {"orch emulate [--count N] [--facts NAME=V1,V2] [flags]", "run a fleet of N emulated nodes in this process", runEmulate},
		"demo":     {"orch demo [up] [--dir DIR]", "run the webapp scenario on a demo fleet (demo up: keep it running)", runDemo},
		"runs":     {"orch runs list|show ID|watch [ID]|retention [flags]", "the run history: list runs, show or follow one (--html, --json)", runRuns},
		"ui":       {"orch ui [--listen ADDR] [flags]", "serve a read-only web view of the fleet and its runs", runUI},

		// Reference generators (docgen.go), used by the packages.
		"completion": {"orch completion bash|zsh|fish", "print the shell completion script for bash, zsh or fish", runCompletion},
		"man":        {"orch man DIR", "write the man pages (orch.1, orch-COMMAND.1) into DIR", runMan},
	}
}

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	e := &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, signals: sigs}
	if views.IsTerminal(os.Stdin) && views.IsTerminal(os.Stderr) {
		e.stdin = os.Stdin // questions only when a person is there to answer
	}
	os.Exit(run(context.Background(), e, os.Args[1:]))
}

// run dispatches args to a subcommand and returns the exit code. A panic
// is a bug in orch: it is reported as such with exit 3, never mistaken for
// a bad playbook (exit 2).
func run(ctx context.Context, e *env, args []string) int {
	return dispatch(ctx, e, args, commands())
}

// dispatch runs the command args name from cmds.
func dispatch(ctx context.Context, e *env, args []string, cmds map[string]command) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(e.stderr, "orch: internal error (a bug in orch; please report it with the command and this message): %v\n%s", p, debug.Stack())
			code = exitBug
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr, cmds)
		if len(args) == 0 {
			return exitInvalid
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(ctx, e, nil)
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "orch: unknown command %q\n\n", args[0])
		usage(e.stderr, cmds)
		return exitInvalid
	}
	return c.run(ctx, e, args[1:])
}

// usage prints every command's summary and synopsis.
func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: orch COMMAND [ARGS...]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n  %-10s   %s\n", n, cmds[n].summary, "", cmds[n].synopsis)
	}
	fmt.Fprintln(w, "\nRun 'orch COMMAND -h' for a command's flags. Documentation: docs/cli.md")
}

// synopsis is the one-line usage of a command or subcommand ("demo up"):
// the table's row for its first word.
func synopsis(name string) string {
	cmd, _, _ := strings.Cut(name, " ")
	if c, ok := commands()[cmd]; ok {
		return c.synopsis
	}
	return "orch " + name + " [flags]"
}
