package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orch-fleet/orch/internal/demofleet"
)

// runDemo is `orch demo`: the webapp scenario end to end on a fleet started
// on loopback; `orch demo up` starts the fleet and keeps it running;
// `orch demo web` is the demo's web server (started by the fleet).
func runDemo(ctx context.Context, e *env, args []string) int {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "":
		return demoRun(ctx, e, args)
	case "up":
		return demoUp(ctx, e, args)
	case "web":
		return demoWeb(ctx, e, args)
	}
	return usageErr(e, "demo", "unknown subcommand %q: usage: %s", sub, synopsis("demo"))
}

// demoStart parses --dir and starts the fleet with revision v1 deployed;
// stop stops it (and removes a temporary directory).
func demoStart(ctx context.Context, e *env, cmd string, args []string) (f *demofleet.Fleet, stop func(), code int) {
	fs := newFlagSet(cmd, e.stderr)
	dir := fs.String("dir", "", "directory for the fleet (default: a new temp dir, removed at the end)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return nil, nil, exitInvalid
	}
	temp := *dir == ""
	if temp {
		d, err := os.MkdirTemp("", "orch-demo-")
		if err != nil {
			fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
			return nil, nil, exitFailed
		}
		*dir = d
	} else {
		if entries, err := os.ReadDir(*dir); err == nil && len(entries) > 0 {
			fmt.Fprintf(e.stderr, "orch %s: %s is not empty: give a new directory (or remove this one; is another demo still running there?)\n", cmd, *dir)
			return nil, nil, exitInvalid
		}
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
			return nil, nil, exitFailed
		}
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return nil, nil, exitFailed
	}
	start := time.Now()
	fmt.Fprintf(e.stdout, "== starting the demo fleet in %s\n", *dir)
	f, err = demofleet.Start(ctx, demofleet.Options{Dir: *dir, Binary: bin, Log: e.stdout})
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		if temp {
			os.RemoveAll(*dir)
		}
		return nil, nil, exitFailed
	}
	fmt.Fprintf(e.stdout, "== deploying revision v1 on the nine web nodes (Go SDK, appmgr.deploy)\n")
	if err := f.Bootstrap(ctx, "v1"); err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		f.Stop()
		return nil, nil, exitFailed
	}
	fmt.Fprintf(e.stdout, "== fleet ready in %s\n", time.Since(start).Round(10*time.Millisecond))
	return f, func() {
		fmt.Fprintf(e.stdout, "== stopping the fleet\n")
		f.Stop()
		if temp {
			os.RemoveAll(f.Dir())
		}
	}, exitOK
}

// demoRun runs the scenario with the rolling form of the playbook: alfa
// then bravo to v2, batch by batch (a canary, then growing batches), with
// the normal apply output; then bravo back to v1 with its canary's load
// check failing, to show the failure hooks roll it back and put it back in
// service. It shows what HAProxy serves before and after.
func demoRun(ctx context.Context, e *env, args []string) int {
	f, stop, code := demoStart(ctx, e, "demo", args)
	if f == nil {
		return code
	}
	var reports string
	defer func() {
		stop()
		if reports != "" {
			demoRunsHint(e, reports)
		}
	}()
	showServed(ctx, e, f, "before")
	playbook := filepath.Join(f.PlaybookDir, "deploy.hcl")
	reports, err := demoReportDir(f)
	if err != nil {
		reports = ""
		fmt.Fprintf(e.stderr, "orch demo: %v\n", err)
		return exitFailed
	}
	apply := func(name string, vars ...string) int {
		args := []string{"apply", playbook}
		for _, v := range vars {
			args = append(args, "-var", v)
		}
		fmt.Fprintf(e.stdout, "\n== orch %s\n", strings.Join(args, " "))
		return run(ctx, demoEnv(e, f), append(args, "--report-html", filepath.Join(reports, "apply-"+name+".html")))
	}
	fmt.Fprintf(e.stdout, `
== the rolling upgrade (deploy.hcl): each batch of web nodes leaves HAProxy,
   gets the revision, passes check_load and comes back before the next batch
   starts: the canary first (batches = [1, "50%%", "100%%"]), so the cluster
   keeps serving throughout
`)
	code = exitOK
	for _, cluster := range []string{"alfa", "bravo"} {
		if c := apply(cluster, "cluster="+cluster, "revision=v2"); c != exitOK {
			code = c
			break
		}
	}
	if code == exitOK {
		showServed(ctx, e, f, "after the upgrade")
		canary := demofleet.Bravo[0]
		fmt.Fprintf(e.stdout, `
== a failing canary: bravo goes back to v1 while its canary, %s, is
   overloaded (touch %s).
   The canary fails its load check: no other node is touched, the failure
   hooks roll %s back and put it back in service, and the run exits 1.
`, canary, filepath.Join(f.Dir(), "faults", canary+"-load"), canary)
		if err := f.SetLoadCritical(canary, true); err != nil {
			fmt.Fprintf(e.stderr, "orch demo: %v\n", err)
			return exitFailed
		}
		c := apply("bravo-canary", "cluster=bravo", "revision=v1", "load_timeout=3s", "load_interval=1s")
		_ = f.SetLoadCritical(canary, false)
		if c != exitFailed {
			fmt.Fprintf(e.stderr, "orch demo: the run with a failing canary exited %d, want 1\n", c)
			code = exitFailed
		}
	}
	showServed(ctx, e, f, "after")
	fmt.Fprintf(e.stdout, "\n== notifications received by the webhook\n")
	for _, n := range f.Notifications() {
		fmt.Fprintf(e.stdout, "  from %v: %v\n    %v\n", n["node"], n["subject"], strings.ReplaceAll(strings.TrimSpace(fmt.Sprint(n["message"])), "\n", "\n    "))
	}
	if code == exitOK {
		fmt.Fprintf(e.stdout, "\nDone: both clusters run v2, the failed canary too (rolled back). Try it yourself: orch demo up (docs/tutorial.md).\n")
	}
	return code
}

// demoReportDir is where orch demo writes the HTML reports of its runs:
// DIR/reports, or a directory of its own that outlives a temporary DIR.
func demoReportDir(f *demofleet.Fleet) (string, error) {
	if strings.HasPrefix(filepath.Base(f.Dir()), "orch-demo-") {
		return os.MkdirTemp("", "orch-demo-reports-")
	}
	dir := filepath.Join(f.Dir(), "reports")
	return dir, os.MkdirAll(dir, 0o755)
}

// demoRunsHint is the end of orch demo: where the runs' reports are and
// how to watch runs live.
func demoRunsHint(e *env, reports string) {
	fmt.Fprintf(e.stdout, `
== the runs' HTML reports (open them in a browser): %s
   to watch runs live: orch demo up, then from another terminal: . DIR/env && orch ui (docs/runs.md)
`, filepath.Join(reports, "apply-*.html"))
}

// demoEnv is e with the fleet's client environment.
func demoEnv(e *env, f *demofleet.Fleet) *env {
	fe := f.Env()
	return &env{stdout: e.stdout, stderr: e.stderr, signals: e.signals, getenv: func(k string) string {
		if v, ok := fe[k]; ok {
			return v
		}
		return e.getenv(k)
	}}
}

// showServed prints what HAProxy serves from each web node: cluster, server
// state and revision.
func showServed(ctx context.Context, e *env, f *demofleet.Fleet, when string) {
	served, err := f.Served(ctx)
	states, _ := f.ServerStates()
	fmt.Fprintf(e.stdout, "\n== what HAProxy serves %s (%s)\n", when, f.FrontURL)
	if err != nil {
		fmt.Fprintf(e.stdout, "  %v\n", err)
	}
	for _, c := range []struct {
		name string
		ids  []string
	}{{"alfa", demofleet.Alfa}, {"bravo", demofleet.Bravo}} {
		for _, id := range c.ids {
			rev := served[id]
			if rev == "" {
				rev = "-"
			}
			fmt.Fprintf(e.stdout, "  %-5s %-6s %-6s %s\n", id, c.name, states[id], rev)
		}
	}
}

// demoUp starts the fleet and keeps it until SIGINT/SIGTERM.
func demoUp(ctx context.Context, e *env, args []string) int {
	f, stop, code := demoStart(ctx, e, "demo up", args)
	if f == nil {
		return code
	}
	defer stop()
	envFile := filepath.Join(f.Dir(), "env")
	bin, _ := os.Executable()
	fmt.Fprintf(e.stdout, `
The fleet is up: 12 nodes, HAProxy on %s, revision v1 everywhere.
From another terminal:

  . %s
  %s ping
  %s apply %s -var cluster=alfa -var revision=v2
  %s ui        (the fleet and its runs, live, in a browser)

Pid files are in %s (kill one to see what orch does), logs in %s.
Press Ctrl-C to stop everything.
`, f.FrontURL, envFile, bin, bin, filepath.Join(f.PlaybookDir, "deploy.hcl"), bin, filepath.Join(f.Dir(), "pids"), filepath.Join(f.Dir(), "logs"))
	select {
	case <-e.signals:
	case <-ctx.Done():
	}
	return exitOK
}

// demoWebSynopsis is the usage of the hidden `orch demo web`.
const demoWebSynopsis = "orch demo web --identity ID --listen ADDR --root DIR [--addr-file FILE]"

// demoWeb is the demo's web server process.
func demoWeb(ctx context.Context, e *env, args []string) int {
	fs := flagSetWithSynopsis("demo web", demoWebSynopsis, e.stderr)
	id := fs.String("identity", "", "node identity")
	listen := fs.String("listen", "127.0.0.1:8080", "address")
	root := fs.String("root", "", "the app's deploy root")
	addrFile := fs.String("addr-file", "", "write the address listened on (for port 0) to `file`")
	if _, err := parseInterspersed(fs, args); err != nil || *id == "" || *root == "" {
		return usageErr(e, "demo web", "usage: %s", demoWebSynopsis)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hup := make(chan os.Signal, 1)
	go func() {
		for s := range e.signals {
			if s == syscall.SIGHUP {
				hup <- s
				continue
			}
			cancel()
			return
		}
	}()
	if err := demofleet.ServeWeb(ctx, *id, *listen, *root, *addrFile, hup); err != nil {
		fmt.Fprintf(e.stderr, "orch demo web: %v\n", err)
		return exitFailed
	}
	return exitOK
}
