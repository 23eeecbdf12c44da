package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Mux serves many node identities in one process over a few connections,
// for the fleet emulator: instead of every Server subscribing to its own
// subjects (Start), the Mux subscribes once per connection to the direct
// wildcard, each agent's broadcast and any-one subjects and discovery, and
// hands each message to the Servers it addresses through the same dispatch
// and request handling as Start's subscriptions (one dispatcher, not two).
//
// Every subscription is a queue subscription in a group private to the Mux,
// so a message reaches exactly one of its connections (no copies) and that
// connection answers it: a direct request goes to the Server of the
// identity in its subject, a broadcast or discovery to every Server (each
// evaluates the filter itself, as a node does), an any-one request to one
// Server picked at random (the Mux joins the fleet-wide any-one queue group,
// so NATS picks between it and real nodes first).
type Mux struct {
	conns      []*nats.Conn
	collective string
	group      string
	// Delay, when set, returns how long to hold each message for one
	// Server before dispatching it (emulated network latency); nil: none.
	delay func() time.Duration
	// jobs feed the workers that run accepted requests: a fixed pool, not
	// a goroutine per request, so that a broadcast to 10,000 identities
	// does not queue 10,000 runnable goroutines ahead of the connections'
	// own (their flushers and readers), which held every reply back until
	// all were computed (with a goroutine per request, the first of 10,000
	// replies came after 125 ms).
	jobs    chan muxJob
	workers int
	stop    chan struct{}

	mu      sync.RWMutex
	servers map[string]*Server
	list    []*Server // sorted by identity
	agents  map[string]bool
	subs    []*nats.Subscription
}

// muxJob is one accepted request for one Server.
type muxJob struct {
	s    *Server
	m    *nats.Msg
	kind msgKind
	t    *reqTrack
}

// NewMux returns a Mux for collective ("" = DefaultCollective) over conns,
// running at most workers requests at once (0 = 64; a handler that waits,
// such as emulated work with a delay, holds a worker while it waits, so
// raise it for those). Few workers keep replies flowing: with 1,024 the
// first of 10,000 broadcast replies came after 45 ms, with 64 after 8 ms.
// delay, when not nil, is asked per message and Server for a latency to
// emulate.
func NewMux(collective string, conns []*nats.Conn, workers int, delay func() time.Duration) (*Mux, error) {
	if len(conns) == 0 {
		return nil, errors.New("rpc mux: no connections")
	}
	if collective == "" {
		collective = DefaultCollective
	}
	if workers <= 0 {
		workers = 64
	}
	return &Mux{conns: conns, collective: collective, group: "orch-mux-" + NewRequestID()[:12], delay: delay,
		jobs: make(chan muxJob, 1<<16), workers: workers, stop: make(chan struct{}),
		servers: map[string]*Server{}, agents: map[string]bool{}}, nil
}

// Add makes the Mux serve s (built with NewServer, never Started). Add all
// Servers before Start.
func (x *Mux) Add(s *Server) error {
	if s.o.Collective != x.collective {
		return fmt.Errorf("rpc mux: server %s is in collective %q, the mux in %q", s.o.Identity, s.o.Collective, x.collective)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, dup := x.servers[s.o.Identity]; dup {
		return fmt.Errorf("rpc mux: identity %s added twice", s.o.Identity)
	}
	x.servers[s.o.Identity] = s
	i := sort.Search(len(x.list), func(i int) bool { return x.list[i].o.Identity >= s.o.Identity })
	x.list = append(x.list, nil)
	copy(x.list[i+1:], x.list[i:])
	x.list[i] = s
	for a := range s.o.Handlers {
		x.agents[a] = true
	}
	return nil
}

// Len is the number of identities served.
func (x *Mux) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.list)
}

// Start subscribes every connection and flushes, so that the Servers are
// reachable when it returns.
func (x *Mux) Start(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	c := x.collective
	type sub struct {
		subject, queue string
		h              nats.MsgHandler
	}
	subs := []sub{
		{DirectSubject(c, "*"), x.group, x.direct},
		{DiscoverSubject(c), x.group, func(m *nats.Msg) { x.all(m, kindDiscover) }},
	}
	for _, a := range sortedKeys(x.agents) {
		subs = append(subs,
			sub{BroadcastSubject(c, a), x.group, func(m *nats.Msg) { x.all(m, kindBroadcast) }},
			sub{AnyOneSubject(c, a), QueueGroup(a), x.anyOne})
	}
	for range x.workers {
		go x.work()
	}
	for _, nc := range x.conns {
		for _, s := range subs {
			ns, err := nc.QueueSubscribe(s.subject, s.queue, s.h)
			if err != nil {
				return fmt.Errorf("rpc mux: subscribing to %s: %w", s.subject, err)
			}
			// A broadcast to 50,000 identities is one message: no limit
			// on what waits in the subscription.
			_ = ns.SetPendingLimits(-1, -1)
			x.subs = append(x.subs, ns)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	for _, nc := range x.conns {
		if err := nc.FlushWithContext(ctx); err != nil {
			return fmt.Errorf("rpc mux: flushing subscriptions: %w", err)
		}
	}
	return nil
}

// Shutdown unsubscribes and shuts every Server down, waiting for requests
// in flight until ctx is done.
func (x *Mux) Shutdown(ctx context.Context) error {
	x.mu.Lock()
	for _, s := range x.subs {
		_ = s.Unsubscribe()
	}
	x.subs = nil
	list := x.list
	x.mu.Unlock()
	var errs []error
	for _, s := range list {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.o.Identity, err))
			break // ctx is done: the others would say the same
		}
	}
	close(x.stop)
	return errors.Join(errs...)
}

// work runs accepted requests until the Mux shuts down.
func (x *Mux) work() {
	for {
		select {
		case j := <-x.jobs:
			j.s.run(j.m, j.kind, j.t)
		case <-x.stop:
			return
		}
	}
}

// direct hands a request on <collective>.node.<identity> to its Server;
// for an identity the Mux does not serve it answers nothing (the sender
// counts it as not answering, as for a stopped node).
func (x *Mux) direct(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	x.mu.RLock()
	s := x.servers[id]
	x.mu.RUnlock()
	if s != nil {
		x.send(s, m, kindDirect)
	}
}

// all hands a broadcast or discovery request to every Server.
func (x *Mux) all(m *nats.Msg, kind msgKind) {
	x.mu.RLock()
	list := x.list
	x.mu.RUnlock()
	for _, s := range list {
		x.send(s, m, kind)
	}
}

// anyOne hands an any-one request to one Server serving its agent.
func (x *Mux) anyOne(m *nats.Msg) {
	agent := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	x.mu.RLock()
	list := x.list
	x.mu.RUnlock()
	if len(list) == 0 {
		return
	}
	for i, start := 0, rand.IntN(len(list)); i < len(list); i++ {
		if s := list[(start+i)%len(list)]; s.o.Handlers[agent] != nil {
			x.send(s, m, kindAnyOne)
			return
		}
	}
}

// send hands m to s's worker queue, after the emulated latency if there
// is one. A request is accepted (counted for the probes) on arrival and
// queued after the latency; a probe is answered after it, so that it never
// overtakes a request sent before it.
func (x *Mux) send(s *Server, m *nats.Msg, kind msgKind) {
	var d time.Duration
	if x.delay != nil {
		d = x.delay()
	}
	if kind == kindDirect && m.Header.Get(ProbeHeader) != "" {
		if d > 0 {
			time.AfterFunc(d, func() { s.accept(m, kind) })
		} else {
			s.accept(m, kind)
		}
		return
	}
	t := s.accept(m, kind)
	if t == nil {
		return
	}
	queue := func() {
		select {
		case x.jobs <- muxJob{s, m, kind, t}:
		case <-x.stop:
			s.untrack(t)
			s.wg.Done()
		}
	}
	if d > 0 {
		time.AfterFunc(d, queue)
		return
	}
	queue()
}
