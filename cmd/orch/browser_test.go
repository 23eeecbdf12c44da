package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/orch-fleet/orch/internal/golden"
)

// chromium returns the headless browser's path. Missing, the browser tests
// fail in CI (CI=true: make deps installs it) and are skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing (make deps installs it); the browser tests must run in CI")
	}
	t.Skip("chromium is not installed (make deps installs it)")
	return ""
}

// newBrowser starts one headless browser for the test and its subtests;
// each tab gets its own context from tab.
func newBrowser(t *testing.T) (tab func(t *testing.T) context.Context) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-gpu", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return func(t *testing.T) context.Context {
		ctx, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		ctx, cancelT := context.WithTimeout(ctx, 20*time.Second)
		t.Cleanup(cancelT)
		return ctx
	}
}

// js evaluates a JavaScript expression in the tab.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// hover moves the mouse to the middle of the element sel.
func hover(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	xy := js[[]float64](t, ctx, fmt.Sprintf(`(function(){var r=document.querySelector(%q).getBoundingClientRect();return [r.x+r.width/2,r.y+r.height/2]})()`, sel))
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, xy[0], xy[1])); err != nil {
		t.Fatal(err)
	}
}

// screenshot writes a screenshot of the tab to docs/images/NAME with
// -update (the screenshots of docs/runs.md).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*golden.Update {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "images", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowser(t *testing.T) {
	tab := newBrowser(t)
	f, pb, setState := applyFleet(t)
	t.Run("HTML report", func(t *testing.T) { testReportInBrowser(t, tab(t), f, pb, setState) })
	t.Run("live view", func(t *testing.T) { testLiveViewInBrowser(t, tab(t), f, pb) })
}

// testReportInBrowser loads the HTML report of a failed run and checks
// what a person sees.
func testReportInBrowser(t *testing.T, ctx context.Context, f *testFleetT, pb string, setState func(string, int)) {
	setState("web2", 2)
	defer setState("web2", 0)
	report := filepath.Join(t.TempDir(), "report.html")
	if code, out, errOut := f.orch("apply", pb, "-var", "cluster=alfa", "--report-html", report); code != 1 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+report)); err != nil {
		t.Fatal(err)
	}
	rows := js[[]string](t, ctx, `Array.from(document.querySelectorAll('.res')).map(r => r.dataset.addr + '=' + r.dataset.outcome)`)
	if want := []string{"nrpe_check.state=failed", "rpcutil_ping.web=ok", "rpc.after=skipped"}; fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("timeline rows %v, want %v (one per resource, failures first)", rows, want)
	}
	failedBars := js[int](t, ctx, `document.querySelectorAll('.res[data-addr="nrpe_check.state"] rect.bar.failed').length`)
	if failedBars == 0 {
		t.Error("the failed resource has no bar marked failed")
	}
	if n := js[int](t, ctx, `document.querySelectorAll('.node').length`); n != 0 && js[bool](t, ctx, `document.querySelector('.node').offsetParent !== null`) {
		t.Error("node rows are visible before expanding")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.res[data-addr="nrpe_check.state"] .lab`))); err != nil {
		t.Fatal(err)
	}
	visible := js[[]string](t, ctx, `Array.from(document.querySelectorAll('.node')).filter(n => n.offsetParent !== null).map(n => n.dataset.node + '=' + n.dataset.outcome)`)
	if want := []string{"web1=ok", "web2=failed", "web3=ok"}; fmt.Sprint(visible) != fmt.Sprint(want) {
		t.Errorf("node rows after expanding %v, want %v", visible, want)
	}
	hover(t, ctx, `.nodes[data-for="nrpe_check.state"] .node[data-node="web2"] rect.bar`)
	tip := js[string](t, ctx, `document.getElementById('tip').hidden ? '' : document.getElementById('tip').textContent`)
	if !regexp.MustCompile(`^web2, attempt 1, .*: failed: CRITICAL \(exit 2\): STATE 2 on web2$`).MatchString(tip) {
		t.Errorf("hover text %q, want web2's reply", tip)
	}
	if n := js[int](t, ctx, `document.querySelectorAll('.graph rect.box').length`); n != 3 {
		t.Errorf("graph has %d boxes, want 3", n)
	}
	if ext := js[int](t, ctx, `document.querySelectorAll('[src],link[href]').length`); ext != 0 {
		t.Errorf("the report loads %d external assets", ext)
	}
	screenshot(t, ctx, "report.png")
}

// testLiveViewInBrowser opens orch ui, starts an apply and checks that the
// run page follows it to its end without a reload.
func testLiveViewInBrowser(t *testing.T, ctx context.Context, f *testFleetT, pb string) {
	uiCtx, stopUI := context.WithCancel(context.Background())
	var out, errb syncBuffer
	uiDone := make(chan int, 1)
	go func() {
		uiDone <- run(uiCtx, &env{stdout: &out, stderr: &errb, getenv: f.env(nil, nil, nil).getenv}, []string{"ui", "--listen", "127.0.0.1:0"})
	}()
	defer func() { stopUI(); <-uiDone }()
	var url string
	eventually(t, 10*time.Second, "orch ui prints its URL", func() bool {
		m := regexp.MustCompile(`serving (http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil || errb.String() != ""
	})
	if url == "" {
		t.Fatalf("orch ui: %s", errb.String())
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"?F=cluster%3Dalfa")); err != nil {
		t.Fatal(err)
	}
	if nodes := js[[]string](t, ctx, `Array.from(document.querySelectorAll('#nodes tr[data-node]')).map(r => r.dataset.node)`); fmt.Sprint(nodes) != "[web1 web2 web3]" {
		t.Errorf("fleet page with -F cluster=alfa: %v", nodes)
	}
	applied := make(chan int, 1)
	go func() {
		code, _, _ := f.orch("apply", pb, "-var", "cluster=alfa", "-var", "slow=true")
		applied <- code
	}()
	var id string
	eventually(t, 10*time.Second, "a running run", func() bool {
		if recs := runsListJSON(t, f, "--outcome", "running"); len(recs) == 1 {
			id = recs[0].ID
		}
		return id != ""
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"runs/"+id)); err != nil {
		t.Fatal(err)
	}
	js[bool](t, ctx, `window.notReloaded = true`)
	if got := js[string](t, ctx, `document.getElementById('outcome').textContent`); got != "running" {
		t.Errorf("outcome on a run going on: %q", got)
	}
	final, err := chromedp.Run(ctx, chromedp.Poll[string](`(function(){var o=document.getElementById('outcome').textContent;return o==='running'?null:o})()`, chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil || final != "ok" {
		t.Fatalf("the run page did not follow the run to ok: %q, %v", final, err)
	}
	if !js[bool](t, ctx, `window.notReloaded === true`) {
		t.Error("the page reloaded")
	}
	if rows := js[[]string](t, ctx, `Array.from(document.querySelectorAll('.res')).map(r => r.dataset.outcome)`); strings.Join(rows, ",") != "ok,ok,ok" {
		t.Errorf("timeline after the run: %v", rows)
	}
	if code := <-applied; code != 0 {
		t.Errorf("apply: exit %d", code)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.res[data-addr="nrpe_check.state"] .lab`))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "live.png")
}
