//go:build chaos

package chaos

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orch-fleet/orch/engine"
)

// brokersInTurn kills each broker in turn (SIGKILL) while a locked run
// deploys (once the first node is mid-deploy), and restarts it on the same store. While it is down, discovery
// must list every node (the registry survives) and a second run of the
// locked playbook must be refused (the lock survives). The run must go
// on, or fail naming the broker it lost. Once the broker is back, every
// state bucket must have its three replicas current again.
func (s *suite) brokersInTurn() result {
	var res result
	down := &result{} // what is checked while a broker is down, a row of its own
	for round := 0; round < s.c.rounds; round++ {
		for i := range s.f.brokers {
			var during []string
			var second *run
			hook, at := s.midDeploy(s.f.apps[0], func() { second, during = s.brokerDown(i, down) })
			// Batches of one node: the run still holds its lock for
			// seconds after the kill, when the second run tries.
			r := s.f.apply(applySpec{revision: s.nextRev(), hook: hook, extra: []string{"-var", "batch=1", "-var", "deploy_timeout=15s"}})
			s.record(r)
			if _, ok := <-at; !ok {
				down.problems = append(down.problems, r.id+": the deploy never started: no fault injected")
			} else {
				down.judge(s.secondRefused(r, second))
			}
			down.problems = append(down.problems, during...)
			e := expect{codes: []int{0, 1}}
			if r.code == 1 {
				during = append(during, brokerBlamed(r)...)
				e.mayName = s.f.apps
			}
			res.injected++
			res.judge(s.f.verify(r, e))
			if err := s.f.waitBuckets(30 * time.Second); err != nil {
				down.problems = append(down.problems, fmt.Sprintf("after restarting %s: %v", s.f.brokerName(i), err))
			}
		}
	}
	s.extra = append(s.extra, row{fault: "… while that broker is down: registry complete, lock refused; replicas current after", result: *down})
	return res
}

// brokerDown kills broker i, then at once starts a second run of the
// locked playbook and checks the registry from the two others, and
// restarts the broker. It returns the second run (judged by
// secondRefused once the first ended) and what was wrong.
func (s *suite) brokerDown(i int, res *result) (*run, []string) {
	b := s.f.brokers[i]
	if err := b.stop(syscall.SIGKILL); err != nil {
		return nil, []string{err.Error()}
	}
	res.injected++
	down := time.Now()
	second, err := s.f.startApply(applySpec{revision: s.rev})
	if err != nil {
		return nil, []string{err.Error()}
	}
	ids, errOut, err := s.f.discover()
	switch {
	case err != nil:
		res.judge([]string{fmt.Sprintf("%s down: %v", b.name, err)})
	case !slices.Equal(ids, sorted(s.f.nodes())):
		res.judge([]string{fmt.Sprintf("%s down: discovery listed %d of %d nodes: %v %s", b.name, len(ids), len(s.f.nodes()), ids, errOut)})
	default:
		res.judge(nil)
	}
	second.wait()
	s.record(second)
	if err := s.f.restartBroker(i); err != nil {
		return second, []string{err.Error()}
	}
	s.t.Logf("%s down %s: discovery %d nodes, second run %s exit %d", b.name, stamp(time.Since(down)), len(ids), second.id, second.code)
	return second, nil
}

// secondRefused judges the second run of the locked playbook started
// while first ran with a broker down: it must not have run while first
// held the lock — refused because the lock is held, or (while the lock
// bucket elects a new leader) because the bucket could not be opened;
// either way exit 1, nothing done. It may run (exit 0) only if it
// started walking after first ended (released the lock).
func (s *suite) secondRefused(first, second *run) []string {
	if second == nil {
		return []string{first.id + ": no second run"}
	}
	_, firstEnd := first.walked()
	if from, _ := second.walked(); second.code == 0 && len(second.eventsOf()) > 0 && from.After(firstEnd) {
		s.t.Logf("%s: ran after %s ended (%s later): the lock was free", second.id, first.id, stamp(from.Sub(firstEnd)))
		return s.f.verify(second, expect{codes: []int{0}})
	}
	if strings.Contains(second.stderr.String(), "opening the lock bucket") {
		s.t.Logf("%s: the lock bucket could not be opened (leader election): %s", second.id, strings.TrimSpace(second.stderr.String()))
	}
	return s.f.verify(second, expect{codes: []int{1}, stderr: `lock "chaos" is held by|opening the lock bucket`})
}

func sorted(l []string) []string {
	c := append([]string(nil), l...)
	slices.Sort(c)
	return c
}

// churnLife is the least a churned agent lives before it is killed
// again: long enough to start and register. (An agent killed before it
// ever registers, again and again for the registry TTL, has truly left
// the registry: discovery then names it missing, rightly.)
const churnLife = time.Second

// churn restarts a quarter of the agents (SIGKILL, start) one after the
// other, every 100 ms (each at most every churnLife), while discoveries
// run: each must list every node exactly once.
func (s *suite) churn() result {
	var res result
	churners := s.f.apps[len(s.f.apps)-max(2, len(s.f.apps)/4):]
	stop, done := make(chan struct{}), make(chan int)
	var churned atomic.Int64
	go func() {
		n := 0
		started := map[string]time.Time{}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for limit, k := time.After(2*time.Minute), 0; ; k++ {
			select {
			case <-stop:
				done <- n
				return
			case <-limit:
				done <- n
				return
			case <-tick.C:
				id := churners[k%len(churners)]
				if time.Since(started[id]) < churnLife {
					continue
				}
				_ = s.f.agent(id).restart()
				started[id] = time.Now()
				churned.Add(1)
				n++
			}
		}
	}()
	want := sorted(s.f.nodes())
	restarts := func() int { return int(churned.Load()) }
	// At least 20 discoveries a round, and every churner restarted 3 times a round.
	for k := 0; k < 20*s.c.rounds || restarts() < 3*len(churners)*s.c.rounds; k++ {
		ids, errOut, err := s.f.discover()
		switch {
		case err != nil:
			res.judge([]string{err.Error()})
		case !slices.Equal(ids, want):
			res.judge([]string{fmt.Sprintf("discovery %d listed %d of %d nodes: %v %s", k+1, len(ids), len(want), ids, strings.TrimSpace(errOut))})
		default:
			res.judge(nil)
		}
	}
	close(stop)
	res.injected = <-done
	if err := s.f.waitRegistered(30*time.Second, churners...); err != nil {
		res.problems = append(res.problems, err.Error())
	}
	return res
}

// requestLost kills the broker the run is connected to (its only
// --server; it knows the others from the cluster) just as the deploy's
// request is sent, and restarts it. The run must go on or fail naming
// the broker; the deploy's timeout is cut to 15 s so that a lost request
// costs 15 s, not the 20 minutes of appmgr_deploy.
func (s *suite) requestLost() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		i := round % len(s.f.brokers)
		var once sync.Once
		var wg sync.WaitGroup
		wg.Add(1)
		hook := func(r *run, ev engine.Event) {
			if ev.Type == engine.EventResourceStart && ev.Resource == deployRes {
				once.Do(func() {
					_ = s.f.brokers[i].stop(syscall.SIGKILL)
					res.injected++
					go func() {
						defer wg.Done()
						if err := s.f.restartBroker(i); err != nil {
							res.problems = append(res.problems, err.Error())
						}
					}()
				})
			}
		}
		r := s.apply(hook, "--server", s.f.brokers[i].url, "-var", "deploy_timeout=15s")
		once.Do(wg.Done)
		wg.Wait()
		e := expect{codes: []int{0, 1}}
		var lost []string
		if r.code == 1 {
			lost = brokerBlamed(r)
			e.mayName = s.f.apps
		}
		res.judge(append(s.f.verify(r, e), lost...))
		if err := s.f.waitBuckets(30 * time.Second); err != nil {
			res.problems = append(res.problems, err.Error())
		}
	}
	return res
}

// brokerBlamed checks a run that exited 1 under a broker fault: it must
// name the broker it lost, or blame the broker connection for every node
// it named (a request or a reply lost with the broker, found by the
// liveness probes). It returns what is wrong.
func brokerBlamed(r *run) []string {
	if regexp.MustCompile(`lost the broker nats://`).MatchString(r.stderr.String()) {
		return nil
	}
	named := r.named()
	if len(named) == 0 {
		return []string{fmt.Sprintf("%s: exit 1 without naming a lost broker: %s", r.id, r.summary())}
	}
	var bad []string
	for _, id := range named {
		if why := r.why(id); !strings.Contains(why, "broker connection") {
			bad = append(bad, fmt.Sprintf("%s: exit 1 naming %s without blaming the broker: %s", r.id, id, why))
		}
	}
	return bad
}
