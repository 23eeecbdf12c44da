// Package appmgr is the provider that deploys application revisions the way
// careful teams do: fetch into a local git mirror, export the revision into
// releases/<commit> (built in a temporary directory and renamed, so a
// half-written release never exists), switch the `current` symlink
// atomically, restart, check health, and switch back if the restart or the
// health check fails.
//
// Layout of an app's deploy root:
//
//	ROOT/mirror.git          bare mirror of the repository
//	ROOT/releases/<commit>/  one directory per release, with a REVISION file
//	ROOT/current -> releases/<commit>
//	ROOT/previous -> releases/<commit>
//	ROOT/unverified          the commits (one a line) that are not verified:
//	                         current is "activated, not verified" while
//	                         it is one of them
//	ROOT/.lock               serialises deploys of the app
//
// A release is "activated, not verified" from the moment current is
// switched to it until its restart and health check pass: ROOT/unverified
// (written atomically before the switch, removed after the check) records
// it, so that an agent killed in between leaves the state on disk. Before a
// switch the file names both the commit switched from (when it is not
// verified itself) and the one switched to, so that whichever current is
// when the agent dies, the file is right about it; a file that does not
// name current is stale (the agent died before switching) and the next
// deploy removes it. A later
// deploy of the same commit then restarts and checks it again instead of
// answering "already at", and status reports it (verified = false).
package appmgr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "appmgr", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

const (
	appPattern = `^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	// refPattern admits branch, tag and commit names; it refuses a leading
	// dash (option injection), whitespace and git's special syntax. ".."
	// is refused separately.
	refPattern = `^[A-Za-z0-9][A-Za-z0-9_./-]*$`
)

var refRE = regexp.MustCompile(refPattern)

// Schema returns the appmgr agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

// actions declares the appmgr agent: each action's schema beside its
// handler.
func actions() *action.Table[*Handler] {
	app := ddl.Input{Name: "app", Type: ddl.String, Required: true, Pattern: appPattern, MaxLength: 64, Description: "the application, as declared in the node config"}
	release := []ddl.Output{
		{Name: "app", Type: ddl.String},
		{Name: "revision", Type: ddl.String, Description: "the revision asked for (branch, tag or commit)"},
		{Name: "commit", Type: ddl.String, Description: "the commit now current"},
		{Name: "previous_commit", Type: ddl.String, Description: "the commit current before"},
		{Name: "release_dir", Type: ddl.String},
	}
	return action.NewTable(ddl.Agent{
		Name:        "appmgr",
		Description: "Deploy application revisions from git: atomic releases, restart, health check, rollback.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "deploy", Mutates: true, Description: "Deploy a revision: fetch, export to releases/<commit>, switch current, restart, check health; roll back on failure.",
			Inputs:  []ddl.Input{app, {Name: "revision", Type: ddl.String, Required: true, Pattern: refPattern, MaxLength: 200, Description: "branch, tag or commit"}},
			Outputs: release},
			(*Handler).deploy),
		action.New(&ddl.Action{Name: "rollback", Mutates: true, Description: "Switch current back to the previous release, restart and check health.",
			Inputs: []ddl.Input{app}, Outputs: release},
			(*Handler).rollback),
		action.New(&ddl.Action{Name: "status", Description: "The current and previous release and the releases kept.",
			Inputs: []ddl.Input{app},
			Outputs: []ddl.Output{
				{Name: "app", Type: ddl.String}, {Name: "commit", Type: ddl.String}, {Name: "revision", Type: ddl.String},
				{Name: "previous_commit", Type: ddl.String}, {Name: "releases", Type: ddl.List, Description: "commits of the releases kept, newest first"},
				{Name: "verified", Type: ddl.Boolean, Description: "false while the current release is activated, not verified: its health check has not passed since it was switched to"},
			}},
			(*Handler).status),
	)
}

// appInput is the input of rollback and status.
type appInput struct {
	App string `json:"app"`
}

// deployInput is the input of deploy.
type deployInput struct {
	App      string `json:"app"`
	Revision string `json:"revision"`
}

// appConfig is one `app "NAME" { ... }` block.
type appConfig struct {
	Name          string `hcl:"name,label"`
	Repo          string `hcl:"repo"`
	Root          string `hcl:"root"`
	Build         string `hcl:"build,optional"`
	Restart       string `hcl:"restart,optional"`
	HealthURL     string `hcl:"health_url,optional"`
	HealthTimeout string `hcl:"health_timeout,optional"`
	Keep          int    `hcl:"keep,optional"`
	Timeout       string `hcl:"command_timeout,optional"`
}

type config struct {
	Apps []appConfig `hcl:"app,block"`
}

// app is a configured application.
type app struct {
	appConfig
	healthTimeout time.Duration
	cmdTimeout    time.Duration
}

// New decodes the provider block.
func New(body hcl.Body, env providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	fail := func(format string, args ...any) (rpc.Handler, hcl.Diagnostics) {
		return nil, providers.Invalid(body, "Invalid appmgr app", format, args...)
	}
	h := &Handler{actions: actions(), apps: map[string]*app{}}
	for _, ac := range c.Apps {
		a := &app{appConfig: ac, healthTimeout: 30 * time.Second, cmdTimeout: 5 * time.Minute}
		if !regexp.MustCompile(appPattern).MatchString(ac.Name) {
			return fail("app name %q must match %s.", ac.Name, appPattern)
		}
		if _, dup := h.apps[ac.Name]; dup {
			return fail("app %q is declared twice.", ac.Name)
		}
		if !filepath.IsAbs(ac.Root) {
			return fail("app %s: root %q must be an absolute path.", ac.Name, ac.Root)
		}
		if ac.Repo == "" || strings.HasPrefix(ac.Repo, "-") {
			return fail("app %s: repo must be a git URL or path.", ac.Name)
		}
		for _, d := range []struct {
			s   string
			dst *time.Duration
		}{{ac.HealthTimeout, &a.healthTimeout}, {ac.Timeout, &a.cmdTimeout}} {
			if d.s == "" {
				continue
			}
			v, err := time.ParseDuration(d.s)
			if err != nil || v <= 0 {
				return fail("app %s: %q is not a positive duration such as \"30s\".", ac.Name, d.s)
			}
			*d.dst = v
		}
		if a.Keep == 0 {
			a.Keep = 5
		}
		if a.Keep < 2 {
			return fail("app %s: keep must be at least 2 (current and previous).", ac.Name)
		}
		h.apps[ac.Name] = a
	}
	return h, nil
}

// Handler serves the appmgr agent.
type Handler struct {
	actions *action.Table[*Handler]
	apps    map[string]*app
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Handle runs an action.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.actions.Handle(ctx, h, c)
}

// app returns the configured app named name.
func (h *Handler) app(name string) (*app, error) {
	a, ok := h.apps[name]
	if !ok {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "no app %q is configured on this node (apps: %s)", name, strings.Join(slices.Sorted(maps.Keys(h.apps)), ", "))
	}
	return a, nil
}

func (h *Handler) status(_ context.Context, _ *rpc.Call, in *appInput) (*rpc.Result, error) {
	a, err := h.app(in.App)
	if err != nil {
		return nil, err
	}
	return a.status()
}

func (h *Handler) deploy(ctx context.Context, c *rpc.Call, in *deployInput) (*rpc.Result, error) {
	a, err := h.app(in.App)
	if err != nil {
		return nil, err
	}
	rev := in.Revision
	if !refRE.MatchString(rev) || strings.Contains(rev, "..") || strings.HasSuffix(rev, ".lock") || strings.HasSuffix(rev, "/") {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "revision %q is not a valid branch, tag or commit name", rev)
	}
	return a.locked(ctx, func() (*rpc.Result, error) { return a.deploy(ctx, rev, c.NoOp) })
}

func (h *Handler) rollback(ctx context.Context, c *rpc.Call, in *appInput) (*rpc.Result, error) {
	a, err := h.app(in.App)
	if err != nil {
		return nil, err
	}
	return a.locked(ctx, func() (*rpc.Result, error) { return a.rollback(ctx, c.NoOp) })
}

// locked runs fn holding the app's deploy lock (an flock on ROOT/.lock, so
// deploys of one app are serialised within and across processes).
func (a *app) locked(ctx context.Context, fn func() (*rpc.Result, error)) (*rpc.Result, error) {
	if err := os.MkdirAll(filepath.Join(a.Root, "releases"), 0o755); err != nil {
		return nil, fmt.Errorf("creating the deploy root: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(a.Root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the deploy lock: %w", err)
	}
	defer f.Close()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("taking the deploy lock: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fleet.Errorf(fleet.StatusAborted, "another deploy of %s is still running", a.Name)
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	a.cleanStale()
	return fn()
}

// cleanStale removes what a deploy interrupted by a crash left behind (a
// half-exported release, a half-made symlink); only ever called holding
// the lock, when no deploy can be using them.
func (a *app) cleanStale() {
	entries, _ := os.ReadDir(filepath.Join(a.Root, "releases"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.RemoveAll(filepath.Join(a.Root, "releases", e.Name()))
		}
	}
	for _, name := range []string{".current.tmp", ".previous.tmp", ".unverified.tmp", "mirror.git.tmp"} {
		_ = os.RemoveAll(a.link(name))
	}
}

func (a *app) mirror() string          { return filepath.Join(a.Root, "mirror.git") }
func (a *app) release(c string) string { return filepath.Join(a.Root, "releases", c) }
func (a *app) link(name string) string { return filepath.Join(a.Root, name) }
func (a *app) target(name string) string {
	t, err := os.Readlink(a.link(name))
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// git runs git with args and returns its trimmed stdout.
func (a *app) git(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// fetch brings the mirror up to date, cloning it the first time.
func (a *app) fetch(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(a.mirror(), "HEAD")); err != nil {
		tmp := a.mirror() + ".tmp"
		_ = os.RemoveAll(tmp)
		if _, err := a.git(ctx, "clone", "--quiet", "--mirror", "--", a.Repo, tmp); err != nil {
			return err
		}
		return os.Rename(tmp, a.mirror())
	}
	_, err := a.git(ctx, "--git-dir", a.mirror(), "fetch", "--quiet", "--prune", "origin")
	return err
}

// resolve returns the commit a revision names.
func (a *app) resolve(ctx context.Context, rev string) (string, error) {
	c, err := a.git(ctx, "--git-dir", a.mirror(), "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil || c == "" {
		return "", fleet.Errorf(fleet.StatusInvalidInput, "revision %q does not exist in %s", rev, a.Repo)
	}
	return c, nil
}

func (a *app) deploy(ctx context.Context, rev string, noop bool) (*rpc.Result, error) {
	if err := a.fetch(ctx); err != nil {
		return nil, fleet.Errorf(fleet.StatusAborted, "fetching %s: %v", a.Repo, err)
	}
	commit, err := a.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	cur := a.target("current")
	data := map[string]any{"app": a.Name, "revision": rev, "commit": commit, "previous_commit": cur, "release_dir": a.release(commit)}
	if !noop {
		a.dropStaleMark(cur)
	}
	if cur == commit && a.isUnverified(commit) {
		data["previous_commit"] = a.target("previous")
		return a.reverify(ctx, rev, commit, data, noop)
	}
	if cur == commit {
		data["previous_commit"] = a.target("previous")
		return &rpc.Result{Data: data, Message: fmt.Sprintf("%s already at %s (%s)", a.Name, rev, short(commit))}, nil
	}
	if noop {
		return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("would deploy %s %s (%s), replacing %s", a.Name, rev, short(commit), orNone(short(cur)))}, nil
	}
	if err := a.export(ctx, rev, commit); err != nil {
		return nil, err
	}
	now := time.Now()
	_ = os.Chtimes(a.release(commit), now, now) // newest, for pruning
	if err := a.activate(ctx, commit, cur); err != nil {
		return nil, err
	}
	a.prune()
	return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("deployed %s %s (%s), was %s", a.Name, rev, short(commit), orNone(short(cur)))}, nil
}

// export writes releases/<commit> unless it exists: git archive into a
// temporary directory, build there, then rename.
func (a *app) export(ctx context.Context, rev, commit string) error {
	dst := a.release(commit)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(a.Root, "releases"), ".tmp-"+short(commit)+"-")
	if err != nil {
		return fmt.Errorf("creating the release directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, a.cmdTimeout)
	defer cancel()
	archive := exec.CommandContext(cctx, "git", "--git-dir", a.mirror(), "archive", "--format=tar", commit)
	untar := exec.CommandContext(cctx, "tar", "-x", "-C", tmp)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	var errA, errT bytes.Buffer
	archive.Stderr, untar.Stderr, untar.Stdin = &errA, &errT, pipe
	if err := untar.Start(); err != nil {
		return fmt.Errorf("starting tar: %w", err)
	}
	if err := archive.Run(); err != nil {
		_ = untar.Wait()
		return fleet.Errorf(fleet.StatusAborted, "exporting %s: %v: %s", short(commit), err, strings.TrimSpace(errA.String()))
	}
	if err := untar.Wait(); err != nil {
		return fleet.Errorf(fleet.StatusAborted, "unpacking %s: %v: %s", short(commit), err, strings.TrimSpace(errT.String()))
	}
	if err := os.WriteFile(filepath.Join(tmp, "REVISION"), []byte(commit+"\n"+rev+"\n"), 0o644); err != nil {
		return err
	}
	if a.Build != "" {
		if out, err := a.run(ctx, a.Build, tmp, commit); err != nil {
			return fleet.Errorf(fleet.StatusAborted, "build of %s failed: %v: %s", short(commit), err, out)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("installing the release: %w", err)
	}
	ok = true
	return nil
}

// run runs a shell command of the app's config in dir.
func (a *app) run(ctx context.Context, command, dir, commit string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ORCH_APP="+a.Name, "ORCH_APP_ROOT="+a.Root, "ORCH_RELEASE_DIR="+a.release(commit), "ORCH_COMMIT="+commit)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s, err
}

// switchTo points current at commit (and previous at prev) atomically.
func (a *app) switchTo(commit, prev string) error {
	set := func(name, c string) error {
		tmp := a.link("." + name + ".tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(filepath.Join("releases", c), tmp); err != nil {
			return err
		}
		return os.Rename(tmp, a.link(name))
	}
	if prev != "" {
		if err := set("previous", prev); err != nil {
			return fmt.Errorf("updating previous: %w", err)
		}
	}
	if err := set("current", commit); err != nil {
		return fmt.Errorf("switching current: %w", err)
	}
	return nil
}

// reverify restarts and checks a current release that was activated but
// never verified (an agent killed during its health check, a rollback
// that did not come back healthy): it is not done until the check passes.
func (a *app) reverify(ctx context.Context, rev, commit string, data map[string]any, noop bool) (*rpc.Result, error) {
	if noop {
		return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("would restart and check %s %s (%s): activated, not verified", a.Name, rev, short(commit))}, nil
	}
	if err := a.activate(ctx, commit, a.target("previous")); err != nil {
		return nil, err
	}
	return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("verified %s %s (%s): it was activated, not verified; restarted and checked it", a.Name, rev, short(commit))}, nil
}

// activate switches to commit, restarts and checks health; on failure it
// switches back to prev (restarting it) and reports why. The release
// switched to is marked unverified until its check passes.
func (a *app) activate(ctx context.Context, commit, prev string) error {
	oldPrev, cur := a.target("previous"), a.target("current")
	mark := []string{commit}
	if cur != commit && a.isUnverified(cur) {
		mark = append(mark, cur) // still not verified if we die before the switch
	}
	if err := a.markUnverified(mark...); err != nil {
		return err
	}
	if err := a.switchTo(commit, prev); err != nil {
		return err
	}
	err := a.restartAndCheck(ctx, commit)
	if err == nil {
		return a.markVerified()
	}
	if prev == commit {
		return fleet.Errorf(fleet.StatusAborted, "%v; there is no other release to roll back to, so %s stays current, activated, not verified", err, short(commit))
	}
	if prev == "" {
		_ = os.Remove(a.link("current"))
		_ = a.markVerified()
		return fleet.Errorf(fleet.StatusAborted, "%v; there was no previous release to roll back to", err)
	}
	// Both: current is commit (failed its check) until the switch back.
	if merr := a.markUnverified(prev, commit); merr != nil {
		return fleet.Errorf(fleet.StatusAborted, "%v; rolling back to %s failed too: %v", err, short(prev), merr)
	}
	if serr := a.switchTo(prev, oldPrev); serr != nil {
		return fleet.Errorf(fleet.StatusAborted, "%v; rolling back to %s failed too: %v", err, short(prev), serr)
	}
	if rerr := a.restartAndCheck(ctx, prev); rerr != nil {
		return fleet.Errorf(fleet.StatusAborted, "%v; rolled back to %s, which did not come back healthy (activated, not verified): %v", err, short(prev), rerr)
	}
	if merr := a.markVerified(); merr != nil {
		return fleet.Errorf(fleet.StatusAborted, "%v; rolled back to %s, healthy, but: %v", err, short(prev), merr)
	}
	return fleet.Errorf(fleet.StatusAborted, "%v; rolled back to %s", err, short(prev))
}

// markUnverified records atomically that current, while it is one of
// commits, is not verified: the commit about to be switched to, and the
// one current is until then when that one is not verified either.
func (a *app) markUnverified(commits ...string) error {
	tmp := a.link(".unverified.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("recording %s as not verified: %w", short(commits[0]), err)
	}
	_, err = f.WriteString(strings.Join(commits, "\n") + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, a.link("unverified"))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("recording %s as not verified: %w", short(commits[0]), err)
	}
	return nil
}

// markVerified records that current passed its health check.
func (a *app) markVerified() error {
	if err := os.Remove(a.link("unverified")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("recording the release as verified: %w", err)
	}
	return nil
}

// isUnverified reports whether ROOT/unverified names commit, i.e. whether
// commit, as current, is activated and not verified. "" never is.
func (a *app) isUnverified(commit string) bool {
	if commit == "" {
		return false
	}
	b, err := os.ReadFile(a.link("unverified"))
	if err != nil {
		return false
	}
	return slices.Contains(strings.Fields(string(b)), commit)
}

// dropStaleMark removes ROOT/unverified when it does not name current: the
// agent died after writing it and before switching, so current is the
// release that was verified before.
func (a *app) dropStaleMark(cur string) {
	if _, err := os.Stat(a.link("unverified")); err == nil && !a.isUnverified(cur) {
		_ = a.markVerified()
	}
}

func (a *app) restartAndCheck(ctx context.Context, commit string) error {
	if a.Restart != "" {
		if out, err := a.run(ctx, a.Restart, a.release(commit), commit); err != nil {
			return fmt.Errorf("restart of %s failed: %v: %s", short(commit), err, out)
		}
	}
	if a.HealthURL == "" {
		return nil
	}
	deadline := time.Now().Add(a.healthTimeout)
	client := http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.HealthURL, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("health check %s of %s failed for %s: %s", a.HealthURL, short(commit), a.healthTimeout, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (a *app) rollback(ctx context.Context, noop bool) (*rpc.Result, error) {
	cur, prev := a.target("current"), a.target("previous")
	if prev == "" || prev == cur {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s has no previous release to roll back to", a.Name)
	}
	data := map[string]any{"app": a.Name, "revision": revisionOf(a.release(prev)), "commit": prev, "previous_commit": cur, "release_dir": a.release(prev)}
	if noop {
		return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("would roll %s back from %s to %s", a.Name, short(cur), short(prev))}, nil
	}
	if err := a.activate(ctx, prev, cur); err != nil {
		return nil, err
	}
	return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("rolled %s back from %s to %s", a.Name, short(cur), short(prev))}, nil
}

func (a *app) status() (*rpc.Result, error) {
	cur := a.target("current")
	releases := a.releases()
	commits := make([]string, len(releases))
	for i, r := range releases {
		commits[i] = r.commit
	}
	verified := !a.isUnverified(cur)
	msg := fmt.Sprintf("%s at %s", a.Name, orNone(short(cur)))
	if !verified {
		msg += " (activated, not verified: its health check has not passed; deploy it again to re-check)"
	}
	return &rpc.Result{Data: map[string]any{
		"app": a.Name, "commit": cur, "revision": revisionOf(a.release(cur)),
		"previous_commit": a.target("previous"), "releases": commits, "verified": verified,
	}, Message: msg}, nil
}

type rel struct {
	commit string
	mod    time.Time
}

// releases lists the release directories, newest first.
func (a *app) releases() []rel {
	entries, _ := os.ReadDir(filepath.Join(a.Root, "releases"))
	var out []rel
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, rel{e.Name(), info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mod.After(out[j].mod) })
	return out
}

// prune keeps Keep releases: current, previous, then the newest others.
func (a *app) prune() {
	cur, prev := a.target("current"), a.target("previous")
	kept := 0
	if cur != "" {
		kept++
	}
	if prev != "" && prev != cur {
		kept++
	}
	for _, r := range a.releases() {
		if r.commit == cur || r.commit == prev {
			continue
		}
		if kept < a.Keep {
			kept++
			continue
		}
		_ = os.RemoveAll(a.release(r.commit))
	}
}

// revisionOf reads the revision name a release was deployed as.
func revisionOf(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "REVISION"))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
