package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/fleetops"
	"github.com/orch-fleet/orch/internal/views"
	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/rpc"
)

// runFlags are the flags of apply and plan.
type runFlags struct {
	pb          *playbookFlags
	cf          *clientFlags
	parallelism int
	failFast    bool
	yes         bool // --yes: confirm rollouts in advance
	confirmEach bool // --confirm-each
	report      string
	junit       string
	lock        string
	noLock      bool
	plain       bool
	verbose     bool
	reportHTML  string
	noHistory   bool
}

func addRunFlags(fs *flag.FlagSet, e *env, apply bool) *runFlags {
	rf := &runFlags{pb: addPlaybookFlags(fs), cf: addClientFlags(fs, e, false)}
	// A resource's call may legitimately take long (a deploy, a build): the
	// per-call default is a minute; a resource's own timeout wins.
	t := fs.Lookup("timeout")
	t.Usage = "per-call timeout for resources that set none"
	t.DefValue = "1m0s"
	_ = t.Value.Set("1m")
	fs.IntVar(&rf.parallelism, "parallelism", 10, "resource instances applied at once")
	fs.BoolVar(&rf.plain, "plain", false, "plain timestamped lines even on a terminal")
	fs.BoolVar(&rf.verbose, "v", false, "print every node's result, not only failures")
	fs.StringVar(&rf.report, "report", "", "write the full run (every node's reply, timings) as JSON to `file`")
	fs.StringVar(&rf.reportHTML, "report-html", "", "write the run as a self-contained HTML page (summary, graph, timeline) to `file`")
	fs.BoolVar(&rf.noHistory, "no-history", false, "do not record the run in the collective's run history")
	if apply {
		fs.BoolVar(&rf.failFast, "fail-fast", false, "start nothing new after the first failure")
		fs.BoolVar(&rf.yes, "yes", false, "answer yes to a rollout's confirmation (confirm = true) in advance")
		fs.BoolVar(&rf.confirmEach, "confirm-each", false, "ask before every batch of a rollout after the first, not only after the canary")
		fs.StringVar(&rf.junit, "junit", "", "write JUnit XML (a test case per resource instance) to `file`")
		fs.StringVar(&rf.lock, "lock", "", "take the run lock `NAME` for the run (overrides the playbook's lock)")
		fs.BoolVar(&rf.noLock, "no-lock", false, "do not take the playbook's run lock")
	}
	return rf
}

// runApply is `orch apply PATH`.
func runApply(ctx context.Context, e *env, args []string) int {
	return runPlaybook(ctx, e, "apply", args)
}

// runPlan is `orch plan PATH`: apply in no-op mode.
func runPlan(ctx context.Context, e *env, args []string) int {
	return runPlaybook(ctx, e, "plan", args)
}

func runPlaybook(ctx context.Context, e *env, cmd string, args []string) int {
	fs := newFlagSet(cmd, e.stderr)
	rf := addRunFlags(fs, e, cmd == "apply")
	path, ok := onePath(e, cmd, fs, args)
	if !ok {
		return exitInvalid
	}
	if rf.parallelism < 1 {
		return usageErr(e, cmd, "-parallelism must be at least 1")
	}
	res := rf.pb.compile(e, path)
	cat := res.Catalog
	if cat == nil {
		return exitInvalid
	}
	noop := cmd == "plan"
	cl, closeConn, err := rf.cf.connect(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		if errors.Is(err, errNoKey) {
			return exitInvalid
		}
		return exitFailed
	}
	defer closeConn()
	// external agents' schemas from the registry (agents.go)
	if res = rf.pb.withFleet(ctx, e, path, res, cl); res.Catalog == nil {
		return exitInvalid
	}
	cat = res.Catalog

	out := views.NewRun(viewType(rf.cf.json), e.view(), views.RunOptions{Playbook: path, NoOp: noop, Verbose: rf.verbose,
		Live: !rf.plain && e.getenv("TERM") != "dumb" && views.IsTerminal(e.stdout)})
	runCtx, stop, done := stopOnSignals(ctx, e, out)
	defer done()
	fleet := rpc.NewFleet(cl, rf.cf.discoverOptions())
	run := beginRun(runCtx, e, cmd, rf, path, res, cl)
	opts := engine.Options{
		Parallelism: rf.parallelism, FailFast: rf.failFast, NoOp: noop, DefaultTimeout: rf.cf.timeout,
		Events: history.Tee(out.Event, run.Event), Stop: stop,
		LockName: rf.lock, LockHolder: fmt.Sprintf("%s pid %d (orch apply %s)", fleetops.CallerName(), os.Getpid(), path),
		Confirm: confirmer(e, rf.yes, out), ConfirmEach: rf.confirmEach,
	}
	if !rf.noLock {
		opts.Locker = cl
	}
	rep, err := engine.Run(runCtx, cat, rf.pb.agents.types, fleet, opts)
	out.Close()
	run.Finish(rep, err)
	writeHTMLReport(e, cmd, rf.reportHTML, run)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		if errors.Is(err, engine.ErrInvalid) {
			return exitInvalid
		}
		return exitFailed
	}
	out.Result(cat, rep)
	if rep.StopReason != "" {
		fmt.Fprintf(e.stderr, "orch %s: %s: nothing new was started\n", cmd, rep.StopReason)
	}
	writeRunFiles(e, cmd, rf, path, rep)
	if rep.BrokerLost != "" {
		fmt.Fprintf(e.stderr, "orch %s: %s\n", cmd, rep.BrokerLost)
	}
	if rep.LockRelease != "" {
		fmt.Fprintf(e.stderr, "orch %s: warning: %s\n", cmd, rep.LockRelease)
	}
	if rep.InternalError {
		return exitBug
	}
	if rep.Outcome != engine.OutcomeOK {
		return exitFailed
	}
	return exitOK
}

// beginRun starts recording the run in the collective's history (unless
// --no-history); it warns once on stderr when it cannot and the run goes
// on. It keeps the events for --report-html.
func beginRun(ctx context.Context, e *env, cmd string, rf *runFlags, path string, res *playbook.Result, cl *rpc.Client) *history.Run {
	key, name := cl.Caller()
	rec := history.Record{Command: cmd, Playbook: path, Digest: res.Digest(), Caller: history.Caller{Key: key, Name: name},
		NoOp: cmd == "plan", Steps: history.StepsOf(res.Catalog)}
	for _, v := range res.Variables() {
		rec.Vars = append(rec.Vars, history.Variable(v))
	}
	o := history.RunOptions{Keep: rf.reportHTML != "", Warn: func(err error) {
		fmt.Fprintf(e.stderr, "orch %s: warning: the run is not recorded in the run history: %v\n", cmd, err)
	}}
	nc := cl.Conn()
	if rf.noHistory {
		nc = nil
	}
	return history.Begin(ctx, nc, cl.Collective(), rec, o)
}

// writeHTMLReport writes --report-html; failing to is reported but does
// not change the exit code.
func writeHTMLReport(e *env, cmd, file string, run *history.Run) {
	if file == "" {
		return
	}
	b, err := views.ReportHTML(run.Record(), run.Events())
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: writing the HTML report: %v\n", cmd, err)
	}
}

// confirmer answers a rollout's questions: yes in advance with --yes, else
// the person at the terminal; nil (nobody can answer: the rollout stops
// after its canary) when stdin is not a terminal.
func confirmer(e *env, yes bool, out views.Run) func(context.Context, string) bool {
	switch {
	case yes:
		return func(context.Context, string) bool { return true }
	case e.stdin == nil:
		return nil
	}
	lines := bufio.NewScanner(e.stdin)
	return func(ctx context.Context, question string) bool {
		out.Notice(question + " [y/N] ")
		answer := make(chan bool, 1)
		go func() {
			answer <- lines.Scan() && strings.HasPrefix(strings.ToLower(strings.TrimSpace(lines.Text())), "y")
		}()
		select {
		case ok := <-answer:
			return ok
		case <-ctx.Done():
			return false
		}
	}
}

// stopOnSignals maps SIGINT/SIGTERM to the engine's two cancellation
// contracts: the first closes stop (start nothing new), the second cancels
// the returned context (abort the calls in flight). done stops listening.
func stopOnSignals(ctx context.Context, e *env, out views.Run) (runCtx context.Context, stop <-chan struct{}, done func()) {
	stopCh := make(chan struct{})
	runCtx, abort := context.WithCancel(ctx)
	sigDone := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-sigDone:
				return
			case s, ok := <-e.signals:
				if !ok {
					return
				}
				if n == 1 {
					out.Notice(fmt.Sprintf("%v: starting nothing new; waiting for the calls in flight (again to abort them)", s))
					close(stopCh)
					continue
				}
				out.Notice(fmt.Sprintf("%v: aborting the calls in flight", s))
				abort()
				return
			}
		}
	}()
	return runCtx, stopCh, func() { close(sigDone); abort() }
}

// writeRunFiles writes the --report and --junit files of a run; failing to
// write them is reported but does not change the exit code.
func writeRunFiles(e *env, cmd string, rf *runFlags, path string, rep *engine.Report) {
	files := []struct {
		name, what string
		render     func(string, *engine.Report) ([]byte, error)
	}{
		{rf.report, "the report", views.ReportJSON},
		{rf.junit, "the JUnit report", views.JUnitXML},
	}
	for _, f := range files {
		if f.name == "" {
			continue
		}
		b, err := f.render(path, rep)
		if err == nil {
			err = os.WriteFile(f.name, b, 0o644)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "orch %s: writing %s: %v\n", cmd, f.what, err)
		}
	}
}
