//go:build chaos

package chaos

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/orch-fleet/orch/engine"
)

// brokersInTurn kills each broker in turn (SIGKILL) while a locked run
// deploys, and restarts it on the same store. While it is down, discovery
// must list every node (the registry survives) and a second run of the
// locked playbook must be refused (the lock survives). The run must go
// on, or fail naming the broker it lost. Once the broker is back, every
// state bucket must have its three replicas current again.
func (s *suite) brokersInTurn() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		for i := range s.f.brokers {
			var (
				once   sync.Once
				during []string
				wg     sync.WaitGroup
			)
			wg.Add(1)
			hook := func(r *run, ev engine.Event) {
				if ev.Type == engine.EventResourceStart && ev.Resource == deployRes {
					once.Do(func() { go func() { defer wg.Done(); during = s.brokerDown(i, &res) }() })
				}
			}
			r := s.apply(hook)
			once.Do(wg.Done) // the deploy never started: nothing injected
			wg.Wait()
			e := expect{codes: []int{0, 1}}
			if r.code == 1 {
				if !regexp.MustCompile(`lost the broker nats://`).MatchString(r.stderr.String()) {
					during = append(during, fmt.Sprintf("%s: exit 1 without naming a lost broker: %s", r.id, r.summary()))
				}
				e.mayName = s.f.apps
			}
			res.judge(append(s.f.verify(r, e), during...))
			if err := s.f.waitBuckets(30 * time.Second); err != nil {
				res.problems = append(res.problems, fmt.Sprintf("after restarting %s: %v", s.f.brokerName(i), err))
			}
		}
	}
	return res
}

// brokerDown kills broker i, checks the registry and the lock from the
// two others, and restarts it. It returns what was wrong.
func (s *suite) brokerDown(i int, res *result) []string {
	b := s.f.brokers[i]
	var bad []string
	if err := b.stop(syscall.SIGKILL); err != nil {
		return []string{err.Error()}
	}
	res.injected++
	down := time.Now()
	ids, errOut, err := s.f.discover()
	switch {
	case err != nil:
		bad = append(bad, fmt.Sprintf("%s down: %v", b.name, err))
	case !slices.Equal(ids, sorted(s.f.nodes())):
		bad = append(bad, fmt.Sprintf("%s down: discovery listed %d of %d nodes: %v %s", b.name, len(ids), len(s.f.nodes()), ids, errOut))
	}
	second := s.f.apply(applySpec{revision: s.rev})
	s.record(second)
	res.judge(s.f.verify(second, expect{codes: []int{1}, stderr: `lock "chaos" is held by`}))
	if err := s.f.restartBroker(i); err != nil {
		return append(bad, err.Error())
	}
	s.t.Logf("%s down %s: discovery %d nodes, second run %s exit %d", b.name, stamp(time.Since(down)), len(ids), second.id, second.code)
	return bad
}

func sorted(l []string) []string {
	c := append([]string(nil), l...)
	slices.Sort(c)
	return c
}

// churn restarts a quarter of the agents (SIGKILL, start) one after the
// other, every 100 ms, while discoveries run: each must list every node
// exactly once.
func (s *suite) churn() result {
	var res result
	churners := s.f.apps[len(s.f.apps)-max(2, len(s.f.apps)/4):]
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for limit := time.After(2 * time.Minute); ; n++ {
			select {
			case <-stop:
				done <- n
				return
			case <-limit:
				done <- n
				return
			case <-tick.C:
				_ = s.f.agent(churners[n%len(churners)]).restart()
			}
		}
	}()
	want := sorted(s.f.nodes())
	for k := 0; k < 20*s.c.rounds; k++ {
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
