//go:build chaos

package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/orch-fleet/orch/engine"
)

// restartSleep is how long each node's appmgr restart takes (seconds):
// the window in which a release is switched to and not yet verified.
const restartSleep = "0.3"

// applyLimit bounds every orch apply of the suite.
const applyLimit = 3 * time.Minute

// The playbook of every run: ping the application nodes, deploy a
// revision on them in batches, then notify through one of the notifiers.
const playbookHCL = `variable "revision" {
  type = string
}

variable "run" {
  type = string
}

variable "batch" {
  type    = number
  default = 6
}

variable "deploy_timeout" {
  type    = string
  default = "60s"
}

lock = "chaos"

nodes "app" {
  agent = "appmgr"
  min   = 1
}

resource "rpcutil_ping" "app" {
  targets = nodes.app
}

resource "appmgr_deploy" "app" {
  targets    = nodes.app
  app        = "app"
  revision   = var.revision
  batch_size = var.batch
  timeout    = var.deploy_timeout
  depends_on = [rpcutil_ping.app]
}

resource "angelia_notify" "done" {
  recipient  = "ops"
  subject    = "chaos ${var.run}"
  message    = "deployed ${var.revision}"
  depends_on = [appmgr_deploy.app]
}
`

// Resource addresses of the playbook.
const (
	pingRes   = "rpcutil_ping.app"
	deployRes = "appmgr_deploy.app"
	notifyRes = "angelia_notify.done"
)

// appState is what an application node has on disk.
type appState struct {
	revision   string // of the current release, "" when none
	unverified bool   // activated, not verified
}

func (s appState) String() string {
	if s.unverified {
		return s.revision + " (activated, not verified)"
	}
	return s.revision
}

// state reads node id's application state from its deploy root: current
// is not verified while ROOT/unverified names its commit (appmgr's rule).
func (f *chaosFleet) state(id string) appState {
	var s appState
	var commit string
	if b, err := os.ReadFile(filepath.Join(f.appRoot(id), "current", "REVISION")); err == nil {
		if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) == 2 {
			commit, s.revision = lines[0], lines[1]
		}
	}
	if b, err := os.ReadFile(filepath.Join(f.appRoot(id), "unverified")); err == nil && commit != "" {
		s.unverified = slices.Contains(strings.Fields(string(b)), commit)
	}
	return s
}

func (f *chaosFleet) states() map[string]appState {
	m := map[string]appState{}
	for _, id := range f.apps {
		m[id] = f.state(id)
	}
	return m
}

// run is one orch apply: what it was asked, what it printed, how it ended.
type run struct {
	id       string // in the notification's subject
	revision string
	args     []string
	before   map[string]appState
	hook     func(r *run, ev engine.Event)

	cmd        *exec.Cmd
	start, end time.Time
	done       chan struct{}
	code       int
	killed     bool // the suite killed the apply itself
	stderr     bytes.Buffer
	mu         sync.Mutex
	events     []engine.Event
	report     *engine.Report
}

// applySpec says how to run orch apply: the revision, extra flags, and a
// hook called with every -json event as it arrives (from the reader; it
// must not block long).
type applySpec struct {
	revision string
	extra    []string
	hook     func(r *run, ev engine.Event)
}

var runCount struct {
	sync.Mutex
	n int
}

// startApply starts orch apply on the fleet's playbook.
func (f *chaosFleet) startApply(s applySpec) (*run, error) {
	runCount.Lock()
	runCount.n++
	id := fmt.Sprintf("r%03d", runCount.n)
	runCount.Unlock()
	r := &run{id: id, revision: s.revision, hook: s.hook, before: f.states(), done: make(chan struct{})}
	r.args = append([]string{"apply", f.playbook(), "-json", "--report", filepath.Join(f.dir, "runs", id+".json"),
		"-var", "revision=" + s.revision, "-var", "run=" + id}, s.extra...)
	r.cmd = exec.Command(f.bin, r.args...)
	r.cmd.Env = f.operatorEnv()
	r.cmd.Stderr = &r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	r.start = time.Now()
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	events, err := os.Create(filepath.Join(f.dir, "runs", id+".jsonl"))
	if err != nil {
		return nil, err
	}
	go r.read(bufio.NewScanner(io.TeeReader(out, events)), events)
	return r, nil
}

// read parses the -json events, then waits for the process (killing it
// after applyLimit) and reads the report.
func (r *run) read(sc *bufio.Scanner, events io.Closer) {
	defer close(r.done)
	defer events.Close()
	limit := time.AfterFunc(applyLimit, func() { _ = r.cmd.Process.Kill() })
	defer limit.Stop()
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var ev engine.Event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		if r.hook != nil {
			r.hook(r, ev)
		}
	}
	err := r.cmd.Wait()
	r.end = time.Now()
	_ = os.WriteFile(strings.TrimSuffix(r.reportPath(), ".json")+".stderr", r.stderr.Bytes(), 0o644)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code = -1
	}
	if b, err := os.ReadFile(r.reportPath()); err == nil {
		var rep engine.Report
		if json.Unmarshal(b, &rep) == nil {
			r.report = &rep
		}
	}
}

func (r *run) reportPath() string {
	for i, a := range r.args {
		if a == "--report" {
			return r.args[i+1]
		}
	}
	return ""
}

// wait waits for the run to end.
func (r *run) wait() *run {
	<-r.done
	return r
}

// kill kills the apply process (SIGKILL), as a crash of the operator's
// machine would.
func (r *run) kill() {
	r.mu.Lock()
	r.killed = true
	r.mu.Unlock()
	_ = r.cmd.Process.Kill()
}

// apply runs orch apply to its end.
func (f *chaosFleet) apply(s applySpec) *run {
	r, err := f.startApply(s)
	if err != nil {
		f.t.Fatal(err)
	}
	return r.wait()
}

// eventsOf returns a copy of the events so far.
func (r *run) eventsOf() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.events...)
}

// resource returns the report of resource addr, nil without one.
func (r *run) resource(addr string) *engine.ResourceReport {
	if r.report == nil {
		return nil
	}
	for _, rr := range r.report.Resources {
		if rr.Addr == addr {
			return rr
		}
	}
	return nil
}

// nodeEvent returns the node_result event of node for resource addr.
func (r *run) nodeEvent(addr, node string) (engine.Event, bool) {
	for _, ev := range r.eventsOf() {
		if ev.Type == engine.EventNodeResult && ev.Resource == addr && ev.Node == node {
			return ev, true
		}
	}
	return engine.Event{}, false
}

// summary is the run's last line, for messages.
func (r *run) summary() string {
	evs := r.eventsOf()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == engine.EventRunEnd {
			return evs[i].Summary
		}
	}
	return strings.TrimSpace(r.stderr.String())
}

// orch runs a short orch command with the operator's environment.
func (f *chaosFleet) orch(args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(f.bin, args...)
	cmd.Env = f.operatorEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code, e = -1, *bytes.NewBufferString(err.Error())
	}
	return o.String(), e.String(), code
}

// deliveries counts the notifications of run id in the notifiers' files.
func (f *chaosFleet) deliveries(id string) int {
	n := 0
	for _, nf := range f.notifiers {
		b, err := os.ReadFile(f.notesFile(nf))
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var note struct {
				Subject string `json:"subject"`
			}
			if json.Unmarshal(line, &note) == nil && note.Subject == "chaos "+id {
				n++
			}
		}
	}
	return n
}
