package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
)

// ProbeHeader marks a liveness probe: a message to a node's direct subject
// with this header and no body, which the node answers at once with an
// empty message, without checking, dispatching or auditing it. Its use is
// the answer NATS gives when nobody is subscribed to the subject: a
// "no responders" status (503), meaning the node is gone.
const ProbeHeader = "Orch-Probe"

// Defaults of Liveness.
const (
	DefaultProbeInterval = 2 * time.Second
	DefaultHungAfter     = 30 * time.Second
)

// Messages of CallResult.Absent.
const (
	absentNotConnected = "not connected: no responders on its subject"
	absentWentAway     = "node went away during the call (no responders on its subject)"
	absentNeverReached = "the request never reached the node (lost with the broker connection)"
	absentReplyLost    = "the node answered, but the reply was lost (broker connection lost); check the node's state (re-run is safe: actions are idempotent)"
)

// minResendValidity is the least validity a request must have left to be
// sent again to a node that never received it.
const minResendValidity = 5 * time.Second

// Liveness says how a call watches the targets that have not answered yet.
// Every ProbeInterval it probes them (ProbeHeader): a node with nobody
// subscribed to its subject has gone (its agent died or its connection
// dropped) and fails at once, so the call waits at most about
// ProbeInterval for a dead node instead of its timeout. A node whose agent
// hangs (SIGSTOP, a partition the broker has not noticed yet) stays
// subscribed and cannot answer probes; it fails after HungAfter without
// an answer to any probe.
type Liveness struct {
	// ProbeInterval is the pause between probes; 0 = 2s, < 0 = no probes
	// (wait for the reply or the timeout, as before).
	ProbeInterval time.Duration
	// HungAfter fails a node that answered no probe for this long; 0 =
	// 30s, < 0 = never (a hung node is then waited for until the broker
	// drops its connection, after its ping timeout, or the call's timeout).
	HungAfter time.Duration
}

func (l Liveness) withDefaults() Liveness {
	if l.ProbeInterval == 0 {
		l.ProbeInterval = DefaultProbeInterval
	}
	if l.HungAfter == 0 {
		l.HungAfter = DefaultHungAfter
	}
	return l
}

// waiter collects the replies of one batch sent to targets, each on its
// reply subject inbox.<index>, while probing the silent ones on
// inbox.p<index>.
type waiter struct {
	c       *Client
	r       fleet.CallRequest
	id      string // the request's id: replies must carry it
	req     *Request
	raw     []byte // the signed request as sent, for a resend
	targets []string
	inbox   string
	live    Liveness
	// pending maps a target's index to the last time it showed life (the
	// call's start, or its last probe answer).
	pending map[int]time.Time
	replies []*fleet.Reply
	absent  map[string]string
	dropped int
	dropWhy map[int]error // the last reason a reply of the target was dropped
	resent  map[int]bool  // targets the request was sent again to (probeUnknown)
	done    map[int]bool  // targets whose last probe answer said done
}

func (c *Client) newWaiter(r fleet.CallRequest, req *Request, raw []byte, targets []string, inbox string) *waiter {
	w := &waiter{c: c, r: r, id: req.ID, req: req, raw: raw, targets: targets, inbox: inbox, live: c.o.Liveness.withDefaults(),
		pending: make(map[int]time.Time, len(targets)), absent: map[string]string{}, dropWhy: map[int]error{},
		resent: map[int]bool{}, done: map[int]bool{}}
	now := time.Now()
	for i := range targets {
		w.pending[i] = now
	}
	return w
}

// inMsg is one message of the inbox once checked: a probe's answer, a
// "no responders" status, a verified reply, or a reply to drop (err).
type inMsg struct {
	i            int // the target's index; < 0: not one of ours
	probe        bool
	noResponders bool
	state        string // a probe answer's ProbeStateHeader
	rep          *fleet.Reply
	err          error
}

// check parses and verifies one message of the inbox. It reads only what
// does not change during the call, so the verify workers run it
// concurrently.
func (w *waiter) check(m *nats.Msg) inMsg {
	tok := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	probe := strings.HasPrefix(tok, "p")
	i, err := strconv.Atoi(strings.TrimPrefix(tok, "p"))
	if err != nil || i < 0 || i >= len(w.targets) {
		return inMsg{i: -1}
	}
	in := inMsg{i: i, probe: probe, noResponders: len(m.Data) == 0 && m.Header.Get("Status") == "503"}
	if probe || in.noResponders {
		in.state = m.Header.Get(ProbeStateHeader)
		return in
	}
	var rep fleet.Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		in.err = errMalformedReply
		return in
	}
	if err := w.c.verifyReply(&rep, w.targets[i], w.id); err != nil {
		in.err = err
		return in
	}
	in.rep = &rep
	return in
}

// verifyPoolMin is the smallest batch whose replies are verified by a
// pool of workers rather than by the collecting goroutine.
const verifyPoolMin = 16

// verifyAll runs check on the messages of ch on up to one worker per CPU
// (verifying a signature costs about 50 µs: a thousand replies verified
// one after the other would double a call's time) and delivers the
// results; stop ends the workers.
func (w *waiter) verifyAll(ch <-chan *nats.Msg) (out <-chan inMsg, stop func()) {
	res := make(chan inMsg, cap(ch))
	done := make(chan struct{})
	for range max(1, min(runtime.GOMAXPROCS(0), len(w.targets))) {
		go func() {
			for {
				select {
				case m := <-ch:
					select {
					case res <- w.check(m):
					case <-done:
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	return res, func() { close(done) }
}

// handle takes one checked message of the inbox; an error is the
// broker's (a resend could not be published).
func (w *waiter) handle(in inMsg) error {
	if in.i < 0 {
		return nil
	}
	if in.err != nil {
		// Forged, unsigned or mis-attributed: dropped, counted, never
		// judged; the target stays pending for its real reply.
		w.dropped++
		w.c.drop()
		w.dropWhy[in.i] = in.err
		return nil
	}
	if _, ok := w.pending[in.i]; !ok {
		return nil
	}
	switch {
	case in.probe && in.noResponders:
		w.gone(in.i, absentWentAway)
	case in.probe:
		w.pending[in.i] = time.Now()
		return w.probeAnswer(in.i, in.state)
	case in.noResponders:
		// The node was not connected when the call was sent: there is no
		// point waiting for it.
		w.gone(in.i, absentNotConnected)
	default:
		delete(w.pending, in.i)
		w.replies = append(w.replies, in.rep)
		if w.r.OnReply != nil {
			w.r.OnReply(in.rep)
		}
	}
	return nil
}

// probeAnswer acts on what target i said of the request (ProbeStateHeader):
// never received, it is sent again once (the same signed request: the node
// never saw its id) while its validity allows, else the target fails;
// answered without its reply reaching us, the target fails once a second
// answer in a row says so (the first may overtake the reply in the
// verify workers); running (or no state: an older node) is waited for.
func (w *waiter) probeAnswer(i int, state string) error {
	wasDone := w.done[i]
	w.done[i] = state == ProbeDone
	switch state {
	case ProbeUnknown:
		if w.resent[i] || time.Until(w.req.Time.Add(w.req.TTL)) < minResendValidity {
			w.gone(i, absentNeverReached)
			return nil
		}
		w.resent[i] = true
		return w.c.sendRequest(w.r, w.targets[i], w.inbox+"."+strconv.Itoa(i), w.raw)
	case ProbeDone:
		if !wasDone {
			return nil
		}
		if why, dropped := w.dropWhy[i]; dropped {
			w.gone(i, "no valid reply: a reply was dropped unjudged ("+why.Error()+")")
			return nil
		}
		w.gone(i, absentReplyLost)
	}
	return nil
}

func (w *waiter) gone(i int, why string) {
	delete(w.pending, i)
	w.absent[w.targets[i]] = why
}

// probe fails the nodes silent for longer than HungAfter and probes the
// others. While the connection to the broker is down nothing is judged:
// the silence is the broker's, not the nodes'.
func (w *waiter) probe() error {
	now := time.Now()
	if w.c.brokerDown() {
		for i := range w.pending {
			w.pending[i] = now
		}
		return nil
	}
	for i, seen := range w.pending {
		if w.live.HungAfter > 0 && now.Sub(seen) >= w.live.HungAfter {
			w.gone(i, fmt.Sprintf("stopped answering liveness probes for %s (hung, or cut off from the broker)", now.Sub(seen).Round(time.Second)))
			continue
		}
		msg := &nats.Msg{Subject: DirectSubject(w.c.o.Collective, w.targets[i]), Reply: w.inbox + ".p" + strconv.Itoa(i),
			Header: nats.Header{ProbeHeader: []string{"1"}, ProbeRequestHeader: []string{w.id}}}
		if err := w.c.nc.PublishMsg(msg); err != nil {
			return w.c.connErr(fmt.Errorf("probing %s: %w", w.targets[i], err))
		}
	}
	return nil
}

// batch is what one batch got.
type batch struct {
	replies []*fleet.Reply
	missing []string          // targets without a (valid) reply
	absent  map[string]string // why, for the missing known gone
	dropped int               // replies dropped unjudged
}

// result is what the batch got: replies, the silent nodes and why those
// known gone are, with err.
func (w *waiter) result(err error) (batch, error) {
	for i, why := range w.dropWhy {
		if _, still := w.pending[i]; still {
			w.absent[w.targets[i]] = "no valid reply: a reply was dropped unjudged (" + why.Error() + ")"
		}
	}
	if len(w.absent) == 0 {
		w.absent = nil
	}
	return batch{replies: w.replies, missing: missingOf(w.targets, w.replies), absent: w.absent, dropped: w.dropped}, err
}

// brokerDown reports whether the connection to the broker is down.
func (c *Client) brokerDown() bool {
	if c.o.Broker != nil {
		return c.o.Broker.Down()
	}
	return !c.nc.IsConnected()
}

// brokerLost returns the channel closed when the broker is given up (nil,
// never closed, without a BrokerWatch).
func (c *Client) brokerLost() <-chan struct{} {
	if c.o.Broker == nil {
		return nil
	}
	return c.o.Broker.Lost()
}

// connErr turns err into a *fleet.BrokerLostError when the connection is
// closed (the watch gave up, or it was closed under the call); other
// errors are returned as they are.
func (c *Client) connErr(err error) error {
	if err == nil || errors.Is(err, fleet.ErrBrokerLost) {
		return err
	}
	if c.o.Broker != nil {
		if lost := c.o.Broker.Err(); lost != nil {
			return lost
		}
	}
	if errors.Is(err, nats.ErrConnectionClosed) || c.nc.IsClosed() {
		return &fleet.BrokerLostError{Broker: c.url, Err: err}
	}
	return err
}
