package rpc

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
)

// auditClip bounds each text field of the audit entry of a request
// rejected before authentication.
const auditClip = 80

// reject answers a request refused before authentication and audits it
// without its input, through the rate limiter.
func (s *Server) reject(m *nats.Msg, req *Request, start time.Time, r error) {
	rej, ok := r.(*rejection)
	if !ok {
		rej = reject(fleet.StatusInvalidInput, RejectInvalid, "%v", r)
	}
	reply := fleet.Reply{Version: ProtocolVersion, RequestID: clip(req.ID), Identity: s.o.Identity,
		Status: rej.status, Message: rej.msg, Elapsed: time.Since(start)}
	if s.o.Audit != nil && s.limit.allow(rej.reason, start) {
		s.o.Audit(AuditEntry{
			Time: start.UTC(), RequestID: clip(req.ID), CallerKey: clip(req.SenderKey), CallerName: clip(req.SenderName),
			Agent: clip(req.Agent), Action: clip(req.Action), Status: rej.status, Message: rej.msg,
			Elapsed: reply.Elapsed, Reason: rej.reason,
		})
	}
	s.observeRequest(req, &reply) // metrics (metrics.go)
	s.respond(m, &reply)
}

// clip cuts an unauthenticated text to auditClip bytes.
func clip(s string) string {
	if len(s) > auditClip {
		return s[:auditClip] + "…"
	}
	return s
}

// flushSuppressed audits, every second until Shutdown, how many
// rejections of each reason the limiter left out.
func (s *Server) flushSuppressed() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.auditSuppressed(s.limit.flush(), now)
		case <-s.stopFl:
			s.auditSuppressed(s.limit.flush(), time.Now())
			return
		}
	}
}

func (s *Server) auditSuppressed(counts map[string]int, now time.Time) {
	if s.o.Audit == nil {
		return
	}
	for _, reason := range sortedKeys(counts) {
		n := counts[reason]
		s.o.Audit(AuditEntry{Time: now.UTC(), Status: fleet.StatusUnauthorised, Reason: reason, Suppressed: n,
			Message: fmt.Sprintf("suppressed %d more rejections (%s) in the last second", n, reason)})
	}
}

// rejectLimiter lets at most perSec audit entries per reason through in
// each one-second window and counts the others.
type rejectLimiter struct {
	mu         sync.Mutex
	perSec     int
	window     time.Time
	lines      map[string]int
	suppressed map[string]int
}

func newRejectLimiter(perSec int) *rejectLimiter {
	return &rejectLimiter{perSec: perSec, lines: map[string]int{}, suppressed: map[string]int{}}
}

// allow reports whether a rejection of reason at now may be audited.
func (l *rejectLimiter) allow(reason string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Second {
		l.window = now
		clear(l.lines)
	}
	if l.lines[reason] < l.perSec {
		l.lines[reason]++
		return true
	}
	l.suppressed[reason]++
	return false
}

// flush returns the suppressed counts and resets them.
func (l *rejectLimiter) flush() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.suppressed) == 0 {
		return nil
	}
	out := l.suppressed
	l.suppressed = map[string]int{}
	return out
}
