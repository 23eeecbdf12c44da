package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/resources"
	"github.com/orch-fleet/orch/rpc"
)

// runFlags are the flags of apply and plan.
type runFlags struct {
	pb          *playbookFlags
	cf          *clientFlags
	parallelism int
	failFast    bool
	report      string
	junit       string
	lock        string
	noLock      bool
	plain       bool
	verbose     bool
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
	if apply {
		fs.BoolVar(&rf.failFast, "fail-fast", false, "start nothing new after the first failure")
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
	cat := rf.pb.load(e, path)
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

	// SIGINT/SIGTERM: the first stops the run gracefully, the second aborts.
	stop := make(chan struct{})
	runCtx, abort := context.WithCancel(ctx)
	defer abort()
	sigDone := make(chan struct{})
	defer close(sigDone)
	out := newRunOutput(e, rf, path, noop)
	go func() {
		n := 0
		for {
			select {
			case <-sigDone:
				return
			case s, ok := <-e.signals:
				if !ok {
					return
				}
				n++
				if n == 1 {
					out.notice(fmt.Sprintf("%v: starting nothing new; waiting for the calls in flight (again to abort them)", s))
					close(stop)
				} else {
					out.notice(fmt.Sprintf("%v: aborting the calls in flight", s))
					abort()
					return
				}
			}
		}
	}()

	fleet := rpc.NewFleet(cl, rpc.DiscoverOptions{Method: rf.cf.discovery, Timeout: rf.cf.dtimeout})
	opts := engine.Options{
		Parallelism: rf.parallelism, FailFast: rf.failFast, NoOp: noop, DefaultTimeout: rf.cf.timeout,
		Events: out.event, Stop: stop,
		LockName: rf.lock, LockHolder: fmt.Sprintf("%s pid %d (orch apply %s)", callerName(), os.Getpid(), path),
	}
	if !rf.noLock {
		opts.Locker = cl
	}
	rep, err := engine.Run(runCtx, cat, resources.Builtin(), fleet, opts)
	out.close()
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		if errors.Is(err, engine.ErrInvalid) {
			return exitInvalid
		}
		return exitFailed
	}
	if noop && !rf.cf.json {
		writePlan(e, cat, rep)
	}
	if rf.report != "" {
		if err := writeReportFile(rf.report, path, rep); err != nil {
			fmt.Fprintf(e.stderr, "orch %s: writing the report: %v\n", cmd, err)
		}
	}
	if rf.junit != "" {
		if err := writeJUnitFile(rf.junit, path, rep); err != nil {
			fmt.Fprintf(e.stderr, "orch %s: writing the JUnit report: %v\n", cmd, err)
		}
	}
	if rep.Outcome != engine.OutcomeOK {
		return exitFailed
	}
	return exitOK
}

// writeReportFile writes the full run as JSON.
func writeReportFile(file, playbook string, rep *engine.Report) error {
	b, err := json.MarshalIndent(struct {
		Playbook string `json:"playbook"`
		*engine.Report
	}{playbook, rep}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// writePlan prints what apply would do, in catalog order.
func writePlan(e *env, cat *catalog.Catalog, rep *engine.Report) {
	w := e.stdout
	fmt.Fprintf(w, "\nPlan: what apply would do (nothing was changed)\n\n")
	problems := 0
	for i, rr := range rep.Resources {
		r := cat.Resources[i]
		call := rr.Agent + "." + rr.Action
		if rr.Agent == "" {
			call = rr.Type
		}
		fmt.Fprintf(w, "%2d. %s  (%s)\n", i+1, rr.Addr, call)
		if len(r.DependsOn) > 0 {
			fmt.Fprintf(w, "    after: %s\n", strings.Join(r.DependsOn, ", "))
		}
		switch {
		case rr.Outcome == engine.OutcomeSkipped:
			fmt.Fprintf(w, "    %s\n", rr.Reason)
			continue
		case rr.Targets == nil && rr.Outcome == engine.OutcomeFailed:
			problems++
			fmt.Fprintf(w, "    cannot plan: %s\n", rr.Reason)
			continue
		}
		how := fmt.Sprintf("on %d node(s)", len(rr.Targets))
		switch {
		case r.AnyOne:
			how = fmt.Sprintf("on any one of %d node(s)", len(rr.Targets))
		case r.BatchSize > 0 && len(rr.Targets) > r.BatchSize:
			var bs []string
			for i := 0; i < len(rr.Targets); i += r.BatchSize {
				bs = append(bs, "["+strings.Join(rr.Targets[i:min(i+r.BatchSize, len(rr.Targets))], " ")+"]")
			}
			how = fmt.Sprintf("in %d batches of %d: %s", len(bs), r.BatchSize, strings.Join(bs, " "))
			if r.BatchSleep > 0 {
				how += fmt.Sprintf(", %s apart", r.BatchSleep)
			}
		}
		if !strings.HasPrefix(how, "in ") {
			how += ": " + strings.Join(rr.Targets, ", ")
		}
		fmt.Fprintf(w, "    %s\n", how)
		if r.Retry.Enabled() {
			fmt.Fprintf(w, "    retried%s\n", retryText(r.Retry))
		}
		for _, nr := range rr.Nodes {
			switch {
			case nr.NoAnswer:
				problems++
				fmt.Fprintf(w, "    %-12s did not answer\n", nr.Identity)
			case !nr.OK:
				problems++
				fmt.Fprintf(w, "    %-12s would fail now: %s\n", nr.Identity, nr.Message)
			case nr.Changed:
				fmt.Fprintf(w, "    %-12s would change%s\n", nr.Identity, colonMsg(nr.Message))
			}
		}
		if rr.Unchanged > 0 {
			fmt.Fprintf(w, "    %d node(s) already right or read-only\n", rr.Unchanged)
		}
	}
	fmt.Fprintf(w, "\nPlan: %d resource(s); %d node change(s) would be made; %d problem(s) found now.\n", len(rep.Resources), rep.Changed, problems)
}

func colonMsg(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

func retryText(r catalog.Retry) string {
	var parts []string
	if r.Attempts > 0 {
		parts = append(parts, fmt.Sprintf(" up to %d attempts", r.Attempts))
	}
	if r.Timeout > 0 {
		parts = append(parts, fmt.Sprintf(" for up to %s", r.Timeout))
	}
	if r.Interval > 0 {
		parts = append(parts, fmt.Sprintf(" every %s", r.Interval))
	}
	return strings.Join(parts, ",")
}

// elapsed formats a duration for people.
func elapsed(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}
