//go:build chaos

package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/rpc"
)

// Bounds the runs must keep (docs/reliability.md "Dying nodes and
// brokers"), plus slack for a loaded 2-core machine.
const (
	deadBound  = rpc.DefaultProbeInterval + 3*time.Second
	hungBound  = rpc.DefaultHungAfter + rpc.DefaultProbeInterval + 3*time.Second
	partition  = 3 * time.Second // how long a partitioned node is stopped
	triggerMax = 30 * time.Second
)

// suite is the state shared by the scenarios.
type suite struct {
	t     *testing.T
	c     config
	f     *chaosFleet
	rev   string // the revision of the last run
	locks *lockWatch
	mu    sync.Mutex
	runs  []*run // every apply, for the whole-suite checks
	extra []row  // rows a scenario adds besides its own (not known failures)
}

// scenario is one fault: a row of the table.
type scenario struct {
	fault string
	known string // the issue, when the outcome is a known failure
	fatal bool   // stop the suite when it fails (the fleet is unusable)
	run   func(s *suite) result
}

// scenarios run in this order on one fleet.
var scenarios = []scenario{
	{fault: "none (baseline deploy)", fatal: true, run: (*suite).baseline},
	{fault: "agent kill -9 mid-batch", run: (*suite).agentKilled},
	{fault: "agent SIGSTOP mid-batch (hung)", run: (*suite).agentHung},
	{fault: "node partitioned 3s (SIGSTOP, SIGCONT)", run: (*suite).nodePartitioned},
	{fault: "notifier kill -9 before notify (any-one failover)", run: (*suite).notifierFailover},
	{fault: "broker kill -9 + restart, each in turn: the run in flight", run: (*suite).brokersInTurn},
	{fault: "the run's broker kill -9 as the deploy request is sent", run: (*suite).requestLost},
	{fault: "registration churn (agents kill -9 + restart)", run: (*suite).churn},
	{fault: "two applies of a locked playbook at once", run: (*suite).lockRace},
	{fault: "lock holder kill -9", run: (*suite).lockHolderDies},
}

// nextRev alternates the revision, so that every run changes the nodes.
func (s *suite) nextRev() string {
	if s.rev == "v1" {
		s.rev = "v2"
	} else {
		s.rev = "v1"
	}
	return s.rev
}

// batch is the deploy's batch size: three batches.
func (s *suite) batch() int { return max(1, (len(s.f.apps)+2)/3) }

// apply runs the playbook with the next revision and records the run.
func (s *suite) apply(hook func(*run, engine.Event), extra ...string) *run {
	r := s.f.apply(applySpec{revision: s.nextRev(), hook: hook, extra: append([]string{"-var", "batch=" + strconv.Itoa(s.batch())}, extra...)})
	s.record(r)
	return r
}

func (s *suite) record(r ...*run) {
	s.mu.Lock()
	s.runs = append(s.runs, r...)
	s.mu.Unlock()
}

// victim is the application node the round's fault hits: one of the
// second batch, so that a batch has answered before it.
func (s *suite) victim(round int) string {
	b := s.batch()
	if 2*b > len(s.f.apps) {
		return s.f.apps[len(s.f.apps)-1]
	}
	return s.f.apps[b+round%b]
}

// waitFor polls cond every 5 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// midDeploy is a hook that calls fault once node id is mid-deploy: its
// release is switched to and not yet verified (its restart runs). fault
// runs on its own goroutine; the returned channel yields when it ran (the
// time it was injected), or is closed without a value when the trigger
// never came.
func (s *suite) midDeploy(id string, fault func()) (func(*run, engine.Event), <-chan time.Time) {
	at := make(chan time.Time, 1)
	var once sync.Once
	hook := func(r *run, ev engine.Event) {
		if ev.Type != engine.EventResourceStart || ev.Resource != deployRes {
			return
		}
		once.Do(func() {
			go func() {
				defer close(at)
				if waitFor(triggerMax, func() bool { return fileExists(filepath.Join(s.f.appRoot(id), "unverified")) }) {
					fault()
					at <- time.Now()
				}
			}()
		})
	}
	return hook, at
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// revive starts agent id again if it is not running and waits until it
// is registered.
func (s *suite) revive(id string) error {
	p := s.f.agent(id)
	_ = p.signal(syscall.SIGCONT)
	if !p.running() {
		if err := p.start(); err != nil {
			return err
		}
	}
	return s.f.waitRegistered(30*time.Second, id)
}

// baseline deploys without a fault, then checks the state buckets are
// file buckets with three replicas and starts the lock watch.
func (s *suite) baseline() result {
	var res result
	r := s.apply(nil)
	res.judge(s.f.verify(r, expect{codes: []int{0}}))
	if err := s.f.waitBuckets(20 * time.Second); err != nil {
		res.problems = append(res.problems, err.Error())
		res.correct--
	}
	lw, err := s.f.watchLocks()
	if err != nil {
		s.t.Fatalf("watching the lock bucket: %v", err)
	}
	s.locks = lw
	s.t.Cleanup(lw.stop)
	return res
}

// stamp formats a duration for messages.
func stamp(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

var _ = fmt.Sprint
