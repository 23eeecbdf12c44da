package appmgr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/providertest"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/rpc"
)

// gitRepo creates a repository with one commit per content, tagged v1, v2...
// and returns its path and the commits.
func gitRepo(t *testing.T, contents ...string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "--quiet", "-b", "main")
	var commits []string
	for i, c := range contents {
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", "index.html")
		git("commit", "--quiet", "-m", fmt.Sprintf("revision %d", i+1))
		git("tag", fmt.Sprintf("v%d", i+1))
		commits = append(commits, git("rev-parse", "HEAD"))
	}
	return dir, commits
}

func newHandler(t *testing.T, body string) *Handler {
	t.Helper()
	return providertest.New(t, Spec(), body, providers.Env{Identity: "web1"}).(*Handler)
}

func deploy(h *Handler, rev string) (*rpc.Result, error) {
	return h.Handle(context.Background(), &rpc.Call{Action: "deploy", Input: map[string]any{"app": "web", "revision": rev}})
}

func current(t *testing.T, root string) (string, string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(root, "current"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(target), string(b)
}

func TestDeploy(t *testing.T) {
	repo, commits := gitRepo(t, "one", "two", "three")
	root := filepath.Join(t.TempDir(), "web")
	failFlag := filepath.Join(t.TempDir(), "fail-restart")
	restarts := filepath.Join(t.TempDir(), "restarts")
	h := newHandler(t, fmt.Sprintf(`
app "web" {
  repo    = %q
  root    = %q
  build   = "test -f index.html && cp index.html built.html"
  restart = "echo $ORCH_COMMIT >> %s; test ! -f %s"
  keep    = 2
}`, repo, root, restarts, failFlag))

	// What a crash in the middle of an earlier deploy left behind is
	// cleaned up by the next one.
	stale := filepath.Join(root, "releases", ".tmp-deadbeef-1")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	// First deploy.
	res, err := deploy(h, "v1")
	if err != nil || !res.Changed {
		t.Fatalf("deploy v1: %v %+v", err, res)
	}
	if c, body := current(t, root); c != commits[0] || body != "one" {
		t.Fatalf("current %s %q", c, body)
	}
	if _, err := os.Stat(filepath.Join(root, "current", "built.html")); err != nil {
		t.Fatal("the build command did not run in the release")
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("a stale half-exported release was left in place")
	}
	// Same revision again: unchanged, no restart.
	res, err = deploy(h, "v1")
	if err != nil || res.Changed || !strings.Contains(res.Message, "already at v1") {
		t.Fatalf("re-deploy v1: %v %+v", err, res)
	}
	// Switch to a commit by its id.
	res, err = deploy(h, commits[1])
	if err != nil || !res.Changed || res.Data.(map[string]any)["previous_commit"] != commits[0] {
		t.Fatalf("deploy v2: %v %+v", err, res)
	}
	if c, body := current(t, root); c != commits[1] || body != "two" {
		t.Fatalf("current %s %q", c, body)
	}
	// A failing restart rolls back: current intact at v2.
	if err := os.WriteFile(failFlag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = deploy(h, "main")
	var se *fleet.StatusError
	if !errors.As(err, &se) || se.Status != fleet.StatusAborted || !strings.Contains(se.Message, "restart of") || !strings.Contains(se.Message, "rolled back to "+commits[1][:12]) {
		t.Fatalf("failing restart: %v", err)
	}
	if c, body := current(t, root); c != commits[1] || body != "two" {
		t.Fatalf("after failed deploy current %s %q", c, body)
	}
	os.Remove(failFlag)
	// Status.
	res, err = h.Handle(context.Background(), &rpc.Call{Action: "status", Input: map[string]any{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	st := res.Data.(map[string]any)
	if st["commit"] != commits[1] || st["previous_commit"] != commits[0] || st["revision"] != commits[1] {
		t.Fatalf("status %+v", st)
	}
	// Rollback to v1.
	res, err = h.Handle(context.Background(), &rpc.Call{Action: "rollback", Input: map[string]any{"app": "web"}})
	if err != nil || !res.Changed {
		t.Fatalf("rollback: %v %+v", err, res)
	}
	if c, _ := current(t, root); c != commits[0] {
		t.Fatalf("after rollback current %s", c)
	}
	// Old releases are pruned to keep = 2 (current and previous stay).
	if _, err := deploy(h, "v3"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "releases"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("releases kept: %v", names)
	}
}

func TestBadRevisions(t *testing.T) {
	repo, _ := gitRepo(t, "one")
	root := filepath.Join(t.TempDir(), "web")
	h := newHandler(t, fmt.Sprintf(`app "web" {
  repo = %q
  root = %q
}`, repo, root))
	act, _ := Schema().Action("deploy")
	for _, rev := range []string{"--upload-pack=touch /tmp/pwned", "-x", "../../etc", "v1 v2", "HEAD@{1}", "main~1^2"} {
		if _, err := act.Validate(map[string]any{"app": "web", "revision": rev}); err == nil {
			// The schema is the first line; the provider checks again.
			_, err := deploy(h, rev)
			var se *fleet.StatusError
			if !errors.As(err, &se) || se.Status != fleet.StatusInvalidInput {
				t.Errorf("revision %q: got %v", rev, err)
			}
		}
	}
	for _, rev := range []string{"a..b", "nosuchbranch"} {
		_, err := deploy(h, rev)
		var se *fleet.StatusError
		if !errors.As(err, &se) || se.Status != fleet.StatusInvalidInput || !strings.Contains(se.Message, rev) {
			t.Errorf("revision %q: got %v", rev, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "current")); err == nil {
		t.Error("a bad revision created a current release")
	}
	_, err := h.Handle(context.Background(), &rpc.Call{Action: "deploy", Input: map[string]any{"app": "nope", "revision": "main"}})
	var se *fleet.StatusError
	if !errors.As(err, &se) || se.Status != fleet.StatusInvalidInput {
		t.Errorf("unknown app: %v", err)
	}
}

func TestConcurrentDeploysAreSerialised(t *testing.T) {
	repo, commits := gitRepo(t, "one", "two")
	root := filepath.Join(t.TempDir(), "web")
	log := filepath.Join(t.TempDir(), "log")
	// The restart notes its start and end; serialised deploys never overlap.
	h := newHandler(t, fmt.Sprintf(`app "web" {
  repo    = %q
  root    = %q
  restart = "echo start >> %s; sleep 0.2; echo end >> %s"
}`, repo, root, log, log))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = deploy(h, fmt.Sprintf("v%d", i%2+1))
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(log)
	lines := strings.Fields(string(b))
	for i := 0; i+1 < len(lines); i += 2 {
		if lines[i] != "start" || lines[i+1] != "end" {
			t.Fatalf("restarts overlapped: %v", lines)
		}
	}
	if c, _ := current(t, root); c != commits[0] && c != commits[1] {
		t.Fatalf("current %s", c)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "releases"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("temporary release left behind: %s", e.Name())
		}
	}
}

func TestHealthCheckFailureRollsBack(t *testing.T) {
	repo, commits := gitRepo(t, "one", "two")
	root := filepath.Join(t.TempDir(), "web")
	h := newHandler(t, fmt.Sprintf(`app "web" {
  repo           = %q
  root           = %q
  health_url     = "http://127.0.0.1:1/health"
  health_timeout = "300ms"
}`, repo, root))
	// Without a previous release there is nothing to roll back to.
	_, err := deploy(h, "v1")
	if err == nil || !strings.Contains(err.Error(), "health check") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "current")); err == nil {
		t.Fatal("an unhealthy first release stayed current")
	}
	_ = commits
}

// TestUnverifiedRelease: a release whose health check has not passed is
// recorded as activated, not verified — by a failed check whose rollback
// did not come back healthy, or by an agent killed between the switch and
// the check — and the next deploy of the same revision restarts and checks
// it again (changed) rather than answering "already at"; status reports it.
func TestUnverifiedRelease(t *testing.T) {
	cases := map[string]struct {
		// leave brings the app from v1 (verified) to an unverified v1 or v2.
		leave    func(t *testing.T, h *Handler, healthy *atomic.Bool, commits []string)
		wantRev  string // the revision left current, not verified
		wantCurr int    // its index in commits
	}{
		"failed check, rollback not healthy": {
			leave: func(t *testing.T, h *Handler, healthy *atomic.Bool, _ []string) {
				healthy.Store(false)
				_, err := deploy(h, "v2")
				if err == nil || !strings.Contains(err.Error(), "activated, not verified") {
					t.Fatalf("deploy v2 with a failing check: %v", err)
				}
			},
			wantRev: "v1", wantCurr: 0,
		},
		"agent killed during the check": {
			leave: func(t *testing.T, h *Handler, _ *atomic.Bool, commits []string) {
				// What a SIGKILL between the switch and the end of the
				// check leaves: v2 exported and current, and the marker
				// written before the switch, never removed.
				if _, err := deploy(h, "v2"); err != nil {
					t.Fatal(err)
				}
				if err := h.apps["web"].markUnverified(commits[1]); err != nil {
					t.Fatal(err)
				}
			},
			wantRev: "v2", wantCurr: 1,
		},
		"agent killed during the switch back": {
			leave: func(t *testing.T, h *Handler, _ *atomic.Bool, commits []string) {
				// v2 failed its check; the agent died after recording the
				// rollback and before switching back: v2 is current and
				// must not count as verified.
				if _, err := deploy(h, "v2"); err != nil {
					t.Fatal(err)
				}
				if err := h.apps["web"].markUnverified(commits[0], commits[1]); err != nil {
					t.Fatal(err)
				}
			},
			wantRev: "v2", wantCurr: 1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			repo, commits := gitRepo(t, "one", "two")
			var healthy atomic.Bool
			healthy.Store(true)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if !healthy.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			t.Cleanup(srv.Close)
			root := filepath.Join(t.TempDir(), "web")
			restarts := filepath.Join(t.TempDir(), "restarts")
			h := newHandler(t, fmt.Sprintf(`
app "web" {
  repo           = %q
  root           = %q
  restart        = "echo $ORCH_COMMIT >> %s"
  health_url     = %q
  health_timeout = "300ms"
}`, repo, root, restarts, srv.URL))
			if res, err := deploy(h, "v1"); err != nil || !res.Changed {
				t.Fatalf("deploy v1: %v %+v", err, res)
			}
			if st := status(t, h); st["verified"] != true {
				t.Fatalf("status after a healthy deploy: %+v", st)
			}
			tc.leave(t, h, &healthy, commits)
			st := status(t, h)
			if st["verified"] != false || st["commit"] != commits[tc.wantCurr] {
				t.Fatalf("status of the unverified release: %+v", st)
			}
			healthy.Store(true)
			before := countLines(t, restarts)
			res, err := deploy(h, tc.wantRev)
			if err != nil || !res.Changed || !strings.HasPrefix(res.Message, "verified web "+tc.wantRev) || countLines(t, restarts) != before+1 {
				t.Fatalf("re-deploy of the unverified release: %v %+v (restarts %d -> %d)", err, res, before, countLines(t, restarts))
			}
			if c, _ := current(t, root); c != commits[tc.wantCurr] {
				t.Fatalf("current %s, want %s", c, commits[tc.wantCurr])
			}
			if st := status(t, h); st["verified"] != true {
				t.Fatalf("status after the re-check: %+v", st)
			}
			if res, err := deploy(h, tc.wantRev); err != nil || res.Changed {
				t.Fatalf("deploy once verified: %v %+v", err, res)
			}
		})
	}
}

// TestStaleUnverifiedMark: an agent killed after recording the release it
// is about to switch to, and before switching, leaves a marker that does
// not name current. current is the verified release it was: status says
// so, a deploy of it answers "already at" and removes the stale marker.
func TestStaleUnverifiedMark(t *testing.T) {
	repo, commits := gitRepo(t, "one", "two")
	root := filepath.Join(t.TempDir(), "web")
	h := newHandler(t, fmt.Sprintf(`app "web" {
  repo = %q
  root = %q
}`, repo, root))
	if _, err := deploy(h, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := h.apps["web"].markUnverified(commits[1]); err != nil {
		t.Fatal(err)
	}
	if st := status(t, h); st["verified"] != true || st["commit"] != commits[0] {
		t.Fatalf("status with a stale marker: %+v", st)
	}
	res, err := deploy(h, "v1")
	if err != nil || res.Changed || !strings.Contains(res.Message, "already at") {
		t.Fatalf("deploy v1 with a stale marker: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(root, "unverified")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale marker left: %v", err)
	}
}

func status(t *testing.T, h *Handler) map[string]any {
	t.Helper()
	res, err := h.Handle(context.Background(), &rpc.Call{Action: "status", Input: map[string]any{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Data.(map[string]any)
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
