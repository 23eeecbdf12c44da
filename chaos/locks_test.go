//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/rpc"
)

// lockRace starts two runs of the locked playbook at once: exactly one
// must run (exit 0), the other be refused at once naming the first's pid.
func (s *suite) lockRace() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		rev := s.nextRev()
		var rs [2]*run
		var wg sync.WaitGroup
		for k := range rs {
			r, err := s.f.startApply(applySpec{revision: rev, extra: []string{"-var", "batch=" + strconv.Itoa(s.batch())}})
			if err != nil {
				s.t.Fatal(err)
			}
			rs[k] = r
			wg.Add(1)
			go func() { defer wg.Done(); r.wait() }()
		}
		wg.Wait()
		s.record(rs[:]...)
		res.injected++
		win, lose := rs[0], rs[1]
		if win.code != 0 {
			win, lose = lose, win
		}
		res.judge(s.f.verify(win, expect{codes: []int{0}}))
		res.judge(s.f.verify(lose, expect{codes: []int{1}, stderr: fmt.Sprintf(`lock "chaos" is held by .* pid %d `, win.cmd.Process.Pid)}))
	}
	return res
}

// lockHolderDies kills a run (SIGKILL) while it holds the lock, mid
// deploy. A second run must be refused naming the dead one; the lock must
// expire within LockTTL (+5 s) of the kill; a third run then takes it and
// completes what the dead one left half-done (same revision).
func (s *suite) lockHolderDies() result {
	var res result
	for round := 0; round < s.c.rounds; round++ {
		var killedAt time.Time
		var once sync.Once
		hook := func(r *run, ev engine.Event) {
			if ev.Type == engine.EventNodeResult && ev.Resource == deployRes {
				once.Do(func() { killedAt = time.Now(); r.kill() })
			}
		}
		dead := s.apply(hook)
		if killedAt.IsZero() {
			res.judge([]string{fmt.Sprintf("%s never deployed (%s): no fault injected", dead.id, dead.summary())})
			continue
		}
		res.injected++
		res.judge(s.f.verify(dead, expect{killed: true}))
		refused := s.f.apply(applySpec{revision: s.rev})
		s.record(refused)
		res.judge(s.f.verify(refused, expect{codes: []int{1}, stderr: fmt.Sprintf(`lock "chaos" is held by .* pid %d `, dead.cmd.Process.Pid)}))
		gone, err := s.waitLockGone(rpc.LockTTL + 15*time.Second)
		switch {
		case err != nil:
			res.problems = append(res.problems, err.Error())
		case gone.Sub(killedAt) > rpc.LockTTL+5*time.Second:
			res.problems = append(res.problems, fmt.Sprintf("the dead holder's lock went %s after the kill, TTL %s", stamp(gone.Sub(killedAt)), rpc.LockTTL))
		}
		dead.end = gone // it held the lock until then
		s.t.Logf("%s killed holding the lock; %s refused; lock gone %s after the kill", dead.id, refused.id, stamp(gone.Sub(killedAt)))
		again := s.f.apply(applySpec{revision: dead.revision, extra: []string{"-var", "batch=" + strconv.Itoa(s.batch())}})
		s.record(again)
		res.judge(s.f.verify(again, expect{codes: []int{0}}))
	}
	return res
}

// waitLockGone polls the lock bucket's stream leader until the lock
// "chaos" is gone (expired, or deleted) and returns when it was seen gone.
// It asks the leader (STREAM.MSG.GET), which decides a Create, not the
// bucket's direct get, which any replica answers: replicas expire a
// message each on its own timer, so one can say gone while the leader
// still has it.
func (s *suite) waitLockGone(d time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	stream := "KV_" + rpc.LockBucket("orch")
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + rpc.LockBucket("orch") + "." + rpc.KVKey("chaos")})
	for ctx.Err() == nil {
		var resp struct {
			Error   *struct{ Code int } `json:"error"`
			Message *struct {
				Hdrs []byte `json:"hdrs"`
			} `json:"message"`
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := s.f.nc.RequestWithContext(rctx, "$JS.API.STREAM.MSG.GET."+stream, req)
		rcancel()
		if err == nil && json.Unmarshal(m.Data, &resp) == nil {
			switch {
			case resp.Error != nil && resp.Error.Code == 404:
				return time.Now(), nil
			case resp.Message != nil && bytes.Contains(resp.Message.Hdrs, []byte("KV-Operation")):
				return time.Now(), nil // a delete or purge marker
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("the lock of a dead holder was still there after %s", d)
}

// wholeSuiteRows are the checks over every run of the suite: the lock
// watch and the runs' own lifetimes (no two runs that held the lock
// overlap), and every notification delivered exactly once.
func (s *suite) wholeSuiteRows() []row {
	lock := row{fault: "whole suite: lock never held by two runs"}
	var gaps int
	lock.runs, gaps, lock.problems = s.locks.report()
	if gaps > 0 {
		s.t.Logf("lock watch: %d change(s) of holder seen across skipped revisions (the watch fell behind), judged by the runs' walks only", gaps)
	}
	s.mu.Lock()
	runs := append([]*run(nil), s.runs...)
	s.mu.Unlock()
	var held []*run
	for _, r := range runs {
		if r.heldLock() || r.killed {
			held = append(held, r)
		}
	}
	for i, a := range held {
		for _, b := range held[i+1:] {
			af, at := a.walked()
			bf, bt := b.walked()
			if af.Before(bt) && bf.Before(at) {
				lock.problems = append(lock.problems, fmt.Sprintf("runs %s and %s both held the lock at the same time", a.id, b.id))
			}
		}
	}
	lock.correct = max(0, lock.runs-len(lock.problems))
	notes := row{fault: "whole suite: notifications exactly once"}
	for _, r := range runs {
		want := 0
		if rr := r.resource(notifyRes); rr != nil && rr.Outcome == engine.OutcomeOK {
			want = 1
		}
		n := s.f.deliveries(r.id)
		notes.runs++
		if n == want || (r.report == nil && n <= 1) {
			notes.correct++
			continue
		}
		notes.problems = append(notes.problems, fmt.Sprintf("%s: %d deliveries, want %d", r.id, n, want))
	}
	return []row{lock, notes}
}
