package rpc

import (
	"time"

	"github.com/nats-io/nats.go"
)

// ProbeRequestHeader, on a liveness probe, carries the id of the request
// the client still waits for from the node; the node answers with
// ProbeStateHeader saying what it knows of that request.
const ProbeRequestHeader = "Orch-Probe-Request"

// ProbeStateHeader is the header of a probe's answer holding the state of
// the request the probe named (ProbeRequestHeader). A node that cannot
// tell (an older node, or a replay guard without ReplayLookup) leaves it
// out, and the client treats the request as running.
const ProbeStateHeader = "Orch-Probe-State"

// States of a request a probe asks about (ProbeStateHeader).
const (
	// ProbeRunning: the node holds the request (or cannot tell yet:
	// requests received but not yet authenticated, e.g. waiting for the
	// concurrency bound, may be it).
	ProbeRunning = "running"
	// ProbeDone: the node authenticated the request and has answered it
	// (or received it before its agent restarted).
	ProbeDone = "done"
	// ProbeUnknown: the node never received the request.
	ProbeUnknown = "unknown"
)

// maxProbeIDLen bounds the request id a probe may ask about; longer ones
// get no state.
const maxProbeIDLen = 128

// ReplayLookup is implemented by replay guards that can tell whether they
// hold an id (both guards of this package do). A node whose guard does
// not cannot tell a request answered from one never received, and its
// probe answers carry no state.
type ReplayLookup interface {
	// Seen reports whether id was added and has not expired.
	Seen(id string) bool
}

// Seen reports whether id is held and not expired.
func (g *memoryGuard) Seen(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.ids[id]
	return ok && !time.Now().After(t)
}

// Seen reports whether id is held and not expired.
func (g *FileReplayGuard) Seen(id string) bool { return g.mem.Seen(id) }

// reqTrack follows one request through the server for the probes: queued
// until admit has decided on it, then, if admitted, in flight under id
// until it has been answered.
type reqTrack struct {
	queued bool
	id     string
}

// track counts a request received (to be run) as queued; s.mu is held.
func (s *Server) track() *reqTrack {
	s.queued++
	return &reqTrack{queued: true}
}

// admitted ends t's queued state; id != "" (the request passed admit)
// puts it in flight.
func (s *Server) admitted(t *reqTrack, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.queued {
		s.queued--
		t.queued = false
	}
	if id != "" {
		s.inflight[id]++
		t.id = id
	}
}

// untrack forgets t once its request has been answered (or dropped).
func (s *Server) untrack(t *reqTrack) {
	s.admitted(t, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.id == "" {
		return
	}
	if s.inflight[t.id]--; s.inflight[t.id] <= 0 {
		delete(s.inflight, t.id)
	}
	t.id = ""
}

// probeState is what the node knows of request id: running (in flight, or
// requests are queued unauthenticated and it may be one of them), done
// (the replay guard holds it and it is not in flight: answered), unknown
// (never received); "" when it cannot tell.
func (s *Server) probeState(id string) string {
	if id == "" || len(id) > maxProbeIDLen {
		return ""
	}
	look, ok := s.o.Replay.(ReplayLookup)
	if !ok {
		return ""
	}
	s.mu.Lock()
	running := s.inflight[id] > 0 || s.queued > 0
	s.mu.Unlock()
	switch {
	case running:
		return ProbeRunning
	case look.Seen(id):
		return ProbeDone
	default:
		return ProbeUnknown
	}
}

// answerProbe answers a liveness probe: an empty message, with the state
// of the request it names, if any. Probes are neither checked nor audited
// and cost a map lookup; the state reveals only whether that (random) id
// is running or done to whoever can reach the node's subject.
func (s *Server) answerProbe(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	ans := &nats.Msg{}
	if st := s.probeState(m.Header.Get(ProbeRequestHeader)); st != "" {
		ans.Header = nats.Header{ProbeStateHeader: []string{st}}
	}
	_ = m.RespondMsg(ans)
}
