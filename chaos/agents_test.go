//go:build chaos

package chaos

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/orch-fleet/orch/engine"
)

// agentKilled kills an agent with SIGKILL while its deploy is switched
// and not verified: the run must fail within deadBound of the kill,
// naming that node (no answer) and no other; the later batch still runs.
func (s *suite) agentKilled() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		id := s.victim(round)
		hook, at := s.midDeploy(id, func() { _ = s.f.agent(id).signal(syscall.SIGKILL) })
		r := s.apply(hook)
		problems := s.f.verify(r, expect{codes: []int{1}, named: []string{id}})
		problems = append(problems, s.bounded(r, id, at, deadBound, "went away")...)
		res.injected++
		res.judge(problems)
		if err := s.revive(id); err != nil {
			res.problems = append(res.problems, err.Error())
		}
	}
	return res
}

// agentHung stops an agent (SIGSTOP) mid-deploy and continues it once
// the run named it: the run must name it as hung within hungBound.
func (s *suite) agentHung() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		id := s.victim(round + 1)
		hook, at := s.midDeploy(id, func() { _ = s.f.agent(id).signal(syscall.SIGSTOP) })
		named := func(r *run, ev engine.Event) {
			hook(r, ev)
			if ev.Type == engine.EventNodeResult && ev.Node == id {
				_ = s.f.agent(id).signal(syscall.SIGCONT)
			}
		}
		r := s.apply(named)
		_ = s.f.agent(id).signal(syscall.SIGCONT)
		problems := s.f.verify(r, expect{codes: []int{1}, named: []string{id}})
		problems = append(problems, s.bounded(r, id, at, hungBound, "liveness")...)
		res.injected++
		res.judge(problems)
		if err := s.revive(id); err != nil {
			res.problems = append(res.problems, err.Error())
		}
	}
	return res
}

// bounded checks that the run named node id, as not answering with a
// message containing why, within bound of the fault injected at at.
func (s *suite) bounded(r *run, id string, at <-chan time.Time, bound time.Duration, why string) []string {
	t, ok := <-at
	if !ok {
		return []string{fmt.Sprintf("%s: %s never got to its restart: no fault injected", r.id, id)}
	}
	ev, ok := r.nodeEvent(deployRes, id)
	switch {
	case !ok:
		return []string{fmt.Sprintf("%s: no result for %s", r.id, id)}
	case ev.Status != "" || !strings.Contains(ev.Message, why):
		return []string{fmt.Sprintf("%s: %s: status %q, %q; want no answer, %q", r.id, id, ev.Status, ev.Message, why)}
	case ev.Time.Sub(t) > bound:
		return []string{fmt.Sprintf("%s: %s named %s after the fault, bound %s", r.id, id, stamp(ev.Time.Sub(t)), stamp(bound))}
	}
	s.t.Logf("%s: %s named %s after the fault: %s", r.id, id, stamp(ev.Time.Sub(t)), ev.Message)
	return nil
}

// nodePartitioned stops a node mid-deploy for a few seconds (shorter than
// the liveness bound), then continues it: the run must wait for it and
// succeed, naming nobody.
func (s *suite) nodePartitioned() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		id := s.victim(round + 2)
		hook, at := s.midDeploy(id, func() {
			p := s.f.agent(id)
			_ = p.signal(syscall.SIGSTOP)
			time.Sleep(partition) // the partition itself
			_ = p.signal(syscall.SIGCONT)
		})
		r := s.apply(hook)
		problems := s.f.verify(r, expect{codes: []int{0}})
		if _, ok := <-at; !ok {
			problems = append(problems, r.id+": "+id+" never got to its restart: no fault injected")
		} else if ev, _ := r.nodeEvent(deployRes, id); ev.Elapsed < partition {
			problems = append(problems, fmt.Sprintf("%s: %s answered in %s, though stopped for %s", r.id, id, stamp(ev.Elapsed), partition))
		}
		res.injected++
		res.judge(problems)
	}
	return res
}

// notifierFailover kills a notifier once the deploy is done, before the
// notification is sent: the notification must be delivered exactly once
// (by the other), the run succeed. Whether the dead one was tried first
// is random; each round repeats (up to 4 runs) until it was.
func (s *suite) notifierFailover() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		for try := 0; try < 4; try++ {
			id := s.f.notifiers[try%2]
			hook := func(r *run, ev engine.Event) {
				if ev.Type == engine.EventResourceEnd && ev.Resource == deployRes {
					_ = s.f.agent(id).signal(syscall.SIGKILL)
				}
			}
			r := s.apply(hook)
			res.injected++
			res.judge(s.f.verify(r, expect{codes: []int{0}}))
			if err := s.revive(id); err != nil {
				res.problems = append(res.problems, err.Error())
			}
			if nr := r.resource(notifyRes); nr != nil && triedNode(nr, id) {
				s.t.Logf("%s: %s tried first, dead; the other delivered", r.id, id)
				break
			}
		}
	}
	return res
}

// triedNode reports whether rr has a result (any) from node id.
func triedNode(rr *engine.ResourceReport, id string) bool {
	for _, n := range rr.Nodes {
		if n.Identity == id {
			return true
		}
	}
	return false
}
