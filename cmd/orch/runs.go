package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/views"
)

// runsCmd is what every orch runs subcommand shares: its flags and the
// history it reads.
type runsCmd struct {
	e    *env
	name string
	fs   *flag.FlagSet
	cf   *clientFlags
}

// runsUsage lists the subcommands of orch runs.
const runsUsage = `  list [--playbook P] [--outcome O] [--since D] [-n N]   the recorded runs, newest first
  show ID [--html]                                     a run: its record and every node's result (--html: the HTML report)
  watch [ID] [-v] [--plain]                            follow a run live (default: the newest one going on)
  retention [--max-age D] [--max-runs N]               print or change how long runs are kept
Every subcommand takes --json and the client flags (orch runs list -h).
`

// runRuns is `orch runs list|show|watch|retention`: the run history.
func runRuns(ctx context.Context, e *env, args []string) int {
	subs := map[string]func(context.Context, *runsCmd, []string) int{
		"list": runsList, "show": runsShow, "watch": runsWatch, "retention": runsRetention,
	}
	if len(args) == 0 || subs[args[0]] == nil {
		fmt.Fprintf(e.stderr, "Usage: %s\n\n%s", synopsis("runs"), runsUsage)
		return exitInvalid
	}
	rc := &runsCmd{e: e, name: "runs " + args[0], fs: flagSetWithSynopsis("runs "+args[0], synopsis("runs"), e.stderr)}
	rc.cf = addClientFlags(rc.fs, e, false)
	return subs[args[0]](ctx, rc, args[1:])
}

// open connects and opens the history; on failure it has printed why and
// returns the exit code.
func (rc *runsCmd) open(ctx context.Context) (*history.Store, func(), int) {
	cl, closeConn, err := rc.cf.connect(ctx)
	if err != nil {
		fmt.Fprintf(rc.e.stderr, "orch %s: %v\n", rc.name, err)
		if errors.Is(err, errNoKey) {
			return nil, nil, exitInvalid
		}
		return nil, nil, exitFailed
	}
	st, err := history.Open(ctx, cl.Conn(), cl.Collective())
	if err != nil {
		closeConn()
		fmt.Fprintf(rc.e.stderr, "orch %s: %v\n", rc.name, err)
		return nil, nil, exitFailed
	}
	return st, closeConn, exitOK
}

// fail prints err and returns its exit code: 2 for a run not found.
func (rc *runsCmd) fail(err error) int {
	fmt.Fprintf(rc.e.stderr, "orch %s: %v\n", rc.name, err)
	if errors.Is(err, history.ErrNotFound) {
		return exitInvalid
	}
	return exitFailed
}

// runsList is `orch runs list`.
func runsList(ctx context.Context, rc *runsCmd, args []string) int {
	var f history.Filter
	var outcome string
	var since time.Duration
	rc.fs.StringVar(&f.Playbook, "playbook", "", "only runs of this playbook (`path` or base name)")
	rc.fs.StringVar(&outcome, "outcome", "", "only runs with this `outcome`: ok, failed or running")
	rc.fs.DurationVar(&since, "since", 0, "only runs started in the last `duration` (e.g. 24h)")
	rc.fs.IntVar(&f.Limit, "n", 0, "at most `N` runs (the newest)")
	if pos, err := parseInterspersed(rc.fs, args); err != nil {
		return exitInvalid
	} else if len(pos) > 0 {
		return usageErr(rc.e, rc.name, "unexpected argument %q", pos[0])
	}
	switch engine.Outcome(outcome) {
	case "", engine.OutcomeOK, engine.OutcomeFailed, history.OutcomeRunning:
		f.Outcome = engine.Outcome(outcome)
	default:
		return usageErr(rc.e, rc.name, "--outcome must be ok, failed or running, not %q", outcome)
	}
	if since > 0 {
		f.Since = time.Now().Add(-since)
	}
	st, closeConn, code := rc.open(ctx)
	if st == nil {
		return code
	}
	defer closeConn()
	recs, err := st.List(ctx, f)
	if err != nil {
		return rc.fail(err)
	}
	return viewErr(rc.e, rc.name, views.NewRuns(viewType(rc.cf.json), rc.e.view()).List(recs))
}

// runsShow is `orch runs show ID [--html]`.
func runsShow(ctx context.Context, rc *runsCmd, args []string) int {
	html := rc.fs.Bool("html", false, "print the run as a self-contained HTML page (redirect it to a file)")
	pos, err := parseInterspersed(rc.fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(pos) != 1 {
		return usageErr(rc.e, rc.name, "usage: orch runs show ID [--html] [--json]")
	}
	st, closeConn, code := rc.open(ctx)
	if st == nil {
		return code
	}
	defer closeConn()
	rec, err := st.Get(ctx, pos[0])
	if err != nil {
		return rc.fail(err)
	}
	evs, err := st.Events(ctx, rec.ID)
	if err != nil {
		return rc.fail(err)
	}
	if *html {
		b, err := views.ReportHTML(*rec, evs)
		if err == nil {
			_, err = rc.e.stdout.Write(b)
		}
		return viewErr(rc.e, rc.name, err)
	}
	return viewErr(rc.e, rc.name, views.NewRuns(viewType(rc.cf.json), rc.e.view()).Show(rec, evs))
}

// runsWatch is `orch runs watch [ID]`: follow a run (by default the
// newest one going on) with the live view of apply; the exit code is the
// run's.
func runsWatch(ctx context.Context, rc *runsCmd, args []string) int {
	plain := rc.fs.Bool("plain", false, "plain timestamped lines even on a terminal")
	verbose := rc.fs.Bool("v", false, "print every node's result, not only failures")
	pos, err := parseInterspersed(rc.fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(pos) > 1 {
		return usageErr(rc.e, rc.name, "usage: orch runs watch [ID]")
	}
	st, closeConn, code := rc.open(ctx)
	if st == nil {
		return code
	}
	defer closeConn()
	var rec *history.Record
	if len(pos) == 1 {
		rec, err = st.Get(ctx, pos[0])
	} else {
		rec, err = newestRunning(ctx, st)
	}
	if err != nil {
		return rc.fail(err)
	}
	out := views.NewRun(viewType(rc.cf.json), rc.e.view(), views.RunOptions{Playbook: rec.Playbook, NoOp: rec.NoOp, Verbose: *verbose,
		Live: !*plain && rc.e.getenv("TERM") != "dumb" && views.IsTerminal(rc.e.stdout)})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-rc.e.signals:
			stop()
		case <-wctx.Done():
		}
	}()
	var outcome engine.Outcome
	err = st.Follow(wctx, rec.ID, func(ev engine.Event) {
		if ev.Type == engine.EventRunEnd {
			outcome = ev.Outcome
		}
		out.Event(ev)
	})
	out.Close()
	if err != nil {
		return rc.fail(err)
	}
	if outcome == "" {
		// It ended without running (the lock was held, …): its record
		// says why.
		if rec, err = st.Get(ctx, rec.ID); err != nil {
			return rc.fail(err)
		}
		fmt.Fprintf(rc.e.stderr, "orch %s: run %s: %s %s\n", rc.name, rec.ID, rec.Outcome, rec.Error)
	}
	if outcome != engine.OutcomeOK {
		return exitFailed
	}
	return exitOK
}

// newestRunning is the record of the newest run going on.
func newestRunning(ctx context.Context, st *history.Store) (*history.Record, error) {
	recs, err := st.List(ctx, history.Filter{Outcome: history.OutcomeRunning, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: no run is going on (orch runs list shows the past ones)", history.ErrNotFound)
	}
	return recs[0], nil
}

// runsRetention is `orch runs retention [--max-age D] [--max-runs N]`:
// print, or change, how long runs are kept.
func runsRetention(ctx context.Context, rc *runsCmd, args []string) int {
	var r history.Retention
	rc.fs.DurationVar(&r.MaxAge, "max-age", 0, "keep runs this long (`duration`, e.g. 720h)")
	rc.fs.IntVar(&r.MaxRuns, "max-runs", 0, "keep at most `N` runs")
	if pos, err := parseInterspersed(rc.fs, args); err != nil {
		return exitInvalid
	} else if len(pos) > 0 || r.MaxAge < 0 || r.MaxRuns < 0 {
		return usageErr(rc.e, rc.name, "usage: orch runs retention [--max-age DURATION] [--max-runs N]")
	}
	st, closeConn, code := rc.open(ctx)
	if st == nil {
		return code
	}
	defer closeConn()
	if r.MaxAge > 0 || r.MaxRuns > 0 {
		if err := st.SetRetention(ctx, r); err != nil {
			return rc.fail(err)
		}
	}
	cur, err := st.Retention(ctx)
	if err != nil {
		return rc.fail(err)
	}
	if rc.cf.json {
		return viewErr(rc.e, rc.name, rc.e.view().JSON(cur))
	}
	fmt.Fprintf(rc.e.stdout, "runs are kept %s, at most %d\n", cur.MaxAge, cur.MaxRuns)
	return exitOK
}
