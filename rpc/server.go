package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
)

// ServerOptions configure a node-side Server.
type ServerOptions struct {
	Identity   string
	Collective string
	// Info returns the node's current identity, facts, classes and agents,
	// for filter matching and discovery replies.
	Info func() fleet.NodeInfo
	// Handlers maps agent names to the providers serving them.
	Handlers map[string]Handler
	// Authorize is called once the signature, time and replay checks have
	// passed: the node's trust list and action policy. It returns a
	// *fleet.StatusError (normally fleet.StatusUnauthorised) to refuse. Nil allows all.
	Authorize func(req *Request) error
	// Audit is called once per request, accepted or rejected. Nil: no audit.
	Audit func(AuditEntry)
	// MaxSkew is how far in the future a request's time may be; 0 = 5s.
	MaxSkew time.Duration
	// MaxTTL caps the validity a request may claim; 0 = 1h.
	MaxTTL time.Duration
	// Concurrency bounds requests handled at once; 0 = 64.
	Concurrency int
	Logger      *slog.Logger
	// Metrics observes every answered request and provider call
	// (metrics.go). Nil: none.
	Metrics Metrics
}

// AuditEntry is one line of a node's audit log.
type AuditEntry struct {
	Time       time.Time       `json:"time"`
	RequestID  string          `json:"request_id"`
	CallerKey  string          `json:"caller_key"`
	CallerName string          `json:"caller"`
	Agent      string          `json:"agent"`
	Action     string          `json:"action"`
	Input      json.RawMessage `json:"input,omitempty"`
	Status     fleet.Status    `json:"status"`
	Message    string          `json:"message,omitempty"`
	Elapsed    time.Duration   `json:"elapsed_ns"`
}

// DiscoveryAgent is the agent name discovery requests carry; node policy
// sees it like any other agent ("discovery.discover").
const DiscoveryAgent = "discovery"

// Server answers requests on a node: it subscribes to the node's direct
// subject, each agent's broadcast and any-one subjects, and discovery, and
// dispatches checked requests to the providers.
type Server struct {
	nc   *nats.Conn
	o    ServerOptions
	subs []*nats.Subscription
	sem  chan struct{}
	wg   sync.WaitGroup
	seen *replayCache

	mu      sync.Mutex
	closing bool

	extra extraAgents // agents beside o.Handlers, changing while serving (server_extra.go)
}

// NewServer checks o and returns a server that is not yet subscribed.
func NewServer(nc *nats.Conn, o ServerOptions) (*Server, error) {
	if o.Identity == "" {
		return nil, errors.New("rpc server: identity is empty")
	}
	if o.Collective == "" {
		o.Collective = DefaultCollective
	}
	if o.Info == nil {
		return nil, errors.New("rpc server: Info is nil")
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = 5 * time.Second
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = time.Hour
	}
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{nc: nc, o: o, sem: make(chan struct{}, o.Concurrency), seen: newReplayCache()}, nil
}

// Start subscribes the server. Requests are handled concurrently until
// Shutdown.
func (s *Server) Start(ctx context.Context) error {
	c := s.o.Collective
	subscribe := func(subject, queue string, kind msgKind) error {
		h := func(m *nats.Msg) { s.dispatch(m, kind) }
		var sub *nats.Subscription
		var err error
		if queue != "" {
			sub, err = s.nc.QueueSubscribe(subject, queue, h)
		} else {
			sub, err = s.nc.Subscribe(subject, h)
		}
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
		return nil
	}
	if err := subscribe(DirectSubject(c, s.o.Identity), "", kindDirect); err != nil {
		return err
	}
	if err := subscribe(DiscoverSubject(c), "", kindDiscover); err != nil {
		return err
	}
	for _, agent := range sortedKeys(s.o.Handlers) {
		if err := subscribe(BroadcastSubject(c, agent), "", kindBroadcast); err != nil {
			return err
		}
		if err := subscribe(AnyOneSubject(c, agent), QueueGroup(agent), kindAnyOne); err != nil {
			return err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flushing subscriptions: %w", err)
	}
	return nil
}

// Shutdown stops taking requests and waits for those in flight, until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.unsubscribeExtra() // server_extra.go
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for in-flight requests: %w", ctx.Err())
	}
}

type msgKind int

const (
	kindDirect msgKind = iota
	kindBroadcast
	kindAnyOne
	kindDiscover
)

// dispatch hands a request to a goroutine of its own, which waits for a
// slot of the concurrency bound: the subscription's delivery never blocks,
// so liveness probes are answered at once even when the node is busy.
func (s *Server) dispatch(m *nats.Msg, kind msgKind) {
	if s.admit(m, kind) {
		go s.run(m, kind)
	}
}

// admit answers liveness probes itself and reports whether m is to be
// run; a request admitted must be run (it is counted as in flight).
func (s *Server) admit(m *nats.Msg, kind msgKind) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	if kind == kindDirect && m.Header.Get(ProbeHeader) != "" {
		s.mu.Unlock()
		// A liveness probe (ProbeHeader): "still here". It carries
		// nothing and does nothing, so it is neither checked nor audited.
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	return true
}

// run handles an admitted request within the concurrency bound.
func (s *Server) run(m *nats.Msg, kind msgKind) {
	s.sem <- struct{}{}
	defer func() { <-s.sem; s.wg.Done() }()
	// handle recovers from provider panics itself and answers them; this
	// is the backstop for a panic anywhere else on the request's path
	// (the node's Info, Authorize or Audit), which would otherwise end
	// the whole agent. Such a request gets no reply.
	defer func() {
		if r := recover(); r != nil {
			s.o.Logger.Error("request handling panicked", "subject", m.Subject, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.handle(m, kind)
}

// handle checks one request in the documented order and answers it.
func (s *Server) handle(m *nats.Msg, kind msgKind) {
	start := time.Now()
	var req Request
	if err := json.Unmarshal(m.Data, &req); err != nil {
		s.finish(m, &req, start, nil, fleet.Errorf(fleet.StatusInvalidInput, "malformed request: %v", err))
		return
	}
	if kind == kindBroadcast || kind == kindDiscover {
		// Nodes the filter does not select stay silent: they are not part of
		// the call. This is checked before the signature so that a broadcast
		// costs non-matching nodes almost nothing.
		info := s.o.Info()
		if !req.Filter.Match(&info) {
			return
		}
	}
	if err := s.check(&req, kind, start); err != nil {
		s.finish(m, &req, start, nil, err)
		return
	}
	if kind == kindDiscover {
		info := s.o.Info()
		s.finish(m, &req, start, &Result{Data: info}, nil)
		return
	}
	h, ok := s.handler(req.Agent) // o.Handlers, then extra agents (server_extra.go)
	if !ok {
		s.finish(m, &req, start, nil, fleet.Errorf(fleet.StatusUnknownAgent, "agent %q is not served by %s", req.Agent, s.o.Identity))
		return
	}
	action, ok := h.Schema().Action(req.Action)
	if !ok {
		s.finish(m, &req, start, nil, fleet.Errorf(fleet.StatusUnknownAction, "agent %s has no action %q (it has: %v)", req.Agent, req.Action, h.Schema().ActionNames()))
		return
	}
	input := map[string]any{}
	if len(req.Data) > 0 && string(req.Data) != "null" {
		if err := json.Unmarshal(req.Data, &input); err != nil {
			s.finish(m, &req, start, nil, fleet.Errorf(fleet.StatusInvalidInput, "input is not a JSON object: %v", err))
			return
		}
	}
	input, err := action.Validate(input)
	if err != nil {
		status := fleet.StatusInvalidInput
		var de *ddl.Error
		if errors.As(err, &de) && de.Missing {
			status = fleet.StatusMissingInput
		}
		s.finish(m, &req, start, nil, fleet.Errorf(status, "%v", err))
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), req.Time.Add(req.TTL))
	defer cancel()
	res, err := s.call(ctx, h, &Call{
		RequestID: req.ID, Agent: req.Agent, Action: req.Action, Input: input,
		CallerKey: req.SenderKey, CallerName: req.SenderName, NoOp: req.NoOp,
	})
	s.finish(m, &req, start, res, err)
}

// call runs the provider's handler. A panic in it answers the request with
// fleet.StatusInternalError naming the agent and action; the stack goes to
// the node's log, not into the reply, and the node keeps serving.
func (s *Server) call(ctx context.Context, h Handler, c *Call) (res *Result, err error) {
	defer func() {
		r := recover()
		s.observeProvider(c, r, err) // metrics (metrics.go)
		if r == nil {
			return
		}
		s.o.Logger.Error("provider panicked", "agent", c.Agent, "action", c.Action, "request", c.RequestID,
			"panic", r, "stack", string(debug.Stack()))
		res, err = nil, fleet.Errorf(fleet.StatusInternalError,
			"%s.%s failed with an internal error (a bug in the provider: %s); the node's log has the details",
			c.Agent, c.Action, panicText(r))
	}()
	return h.Handle(ctx, c)
}

// panicText is a panic value as a short single line for a reply message.
func panicText(r any) string {
	const limit = 200
	t := strings.Join(strings.Fields(fmt.Sprint(r)), " ")
	if len(t) > limit {
		t = t[:limit] + "…"
	}
	return t
}

// check verifies version, collective, signature, time and replay, then asks
// the node's policy.
func (s *Server) check(req *Request, kind msgKind, now time.Time) error {
	if req.Version != ProtocolVersion {
		return fleet.Errorf(fleet.StatusInvalidInput, "protocol version %d not supported (this node speaks %d)", req.Version, ProtocolVersion)
	}
	if req.Collective != s.o.Collective {
		return fleet.Errorf(fleet.StatusInvalidInput, "request is for collective %q, this node is in %q", req.Collective, s.o.Collective)
	}
	if req.ID == "" {
		return fleet.Errorf(fleet.StatusInvalidInput, "request has no id")
	}
	if err := Verify(req); err != nil {
		return fleet.Errorf(fleet.StatusUnauthorised, "%v", err)
	}
	if req.TTL <= 0 || req.TTL > s.o.MaxTTL {
		return fleet.Errorf(fleet.StatusUnauthorised, "request ttl %s outside (0, %s]", req.TTL, s.o.MaxTTL)
	}
	if req.Time.After(now.Add(s.o.MaxSkew)) {
		return fleet.Errorf(fleet.StatusUnauthorised, "request is dated %s in the future (clock skew?)", req.Time.Sub(now).Round(time.Millisecond))
	}
	expires := req.Time.Add(req.TTL)
	if now.After(expires) {
		return fleet.Errorf(fleet.StatusUnauthorised, "request expired %s ago (ttl %s)", now.Sub(expires).Round(time.Millisecond), req.TTL)
	}
	if kind == kindDirect && !req.Filter.Empty() {
		info := s.o.Info()
		if !req.Filter.Match(&info) {
			return fleet.Errorf(fleet.StatusUnauthorised, "request was not addressed to %s", s.o.Identity)
		}
	}
	if kind == kindDiscover {
		req.Agent, req.Action = DiscoveryAgent, "discover"
	}
	if !s.seen.add(req.ID, expires.Add(s.o.MaxSkew), now) {
		return fleet.Errorf(fleet.StatusUnauthorised, "request %s was already received (replay)", req.ID)
	}
	if s.o.Authorize != nil {
		if err := s.o.Authorize(req); err != nil {
			var se *fleet.StatusError
			if errors.As(err, &se) {
				return se
			}
			return fleet.Errorf(fleet.StatusUnauthorised, "%v", err)
		}
	}
	return nil
}

// finish sends the reply and writes the audit entry.
func (s *Server) finish(m *nats.Msg, req *Request, start time.Time, res *Result, err error) {
	reply := fleet.Reply{Version: ProtocolVersion, RequestID: req.ID, Identity: s.o.Identity, Status: fleet.StatusOK}
	if err != nil {
		var se *fleet.StatusError
		if errors.As(err, &se) {
			reply.Status, reply.Message = se.Status, se.Message
		} else {
			reply.Status, reply.Message = fleet.StatusAborted, err.Error()
		}
	}
	if res != nil {
		reply.Changed = res.Changed
		if reply.Message == "" {
			reply.Message = res.Message
		}
		if res.Data != nil {
			b, merr := json.Marshal(res.Data)
			if merr != nil {
				reply.Status, reply.Message = fleet.StatusInternalError, fmt.Sprintf("encoding reply data: %v", merr)
			} else {
				reply.Data = b
			}
		}
	}
	reply.Elapsed = time.Since(start)
	s.observeRequest(req, &reply) // metrics (metrics.go)
	if s.o.Audit != nil {
		s.o.Audit(AuditEntry{
			Time: start.UTC(), RequestID: req.ID, CallerKey: req.SenderKey, CallerName: req.SenderName,
			Agent: req.Agent, Action: req.Action, Input: req.Data,
			Status: reply.Status, Message: reply.Message, Elapsed: reply.Elapsed,
		})
	}
	if m.Reply == "" {
		return
	}
	b, merr := json.Marshal(&reply)
	if merr != nil {
		s.o.Logger.Error("encoding reply", "err", merr)
		return
	}
	if perr := m.Respond(b); perr != nil {
		s.o.Logger.Warn("sending reply", "request", req.ID, "err", perr)
	}
}

// replayCache remembers request IDs until the request would have expired
// anyway; a request seen twice within its validity is a replay.
type replayCache struct {
	mu        sync.Mutex
	ids       map[string]time.Time
	lastPrune time.Time
}

func newReplayCache() *replayCache { return &replayCache{ids: map[string]time.Time{}} }

// add records id until forget and reports whether it was new.
func (c *replayCache) add(id string, forget, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastPrune) > 10*time.Second {
		for k, t := range c.ids {
			if now.After(t) {
				delete(c.ids, k)
			}
		}
		c.lastPrune = now
	}
	if _, dup := c.ids[id]; dup {
		return false
	}
	c.ids[id] = forget
	return true
}
