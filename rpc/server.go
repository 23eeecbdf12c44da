package rpc

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

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
	// Key is the node's key: every reply is signed with it, and clients
	// verify replies against its public key in the node's registry entry.
	// Nil: a key is made for this server (PublicKey returns it).
	Key nkeys.KeyPair
	// Trusted is the node's trust list, asked before the signature is
	// checked so that an untrusted key costs no signature check and can
	// never touch the replay guard. Nil trusts every key (Authorize then
	// decides).
	Trusted func(senderKey string) bool
	// Authorize is called once the signature, time and replay checks have
	// passed: the node's action policy. It returns a *fleet.StatusError
	// (normally fleet.StatusUnauthorised) to refuse. Nil allows all.
	Authorize func(req *Request) error
	// Replay remembers the ids of authenticated requests until they
	// expire; nil: in memory (a restart forgets them: use a persistent
	// guard, see NewFileReplayGuard, and NotBefore).
	Replay ReplayGuard
	// NotBefore refuses requests dated before it: the time the node
	// started, so that a request captured before a restart cannot be
	// replayed after it.
	NotBefore time.Time
	// Limits bound what a request may be before it is authenticated; the
	// zero value is DefaultLimits.
	Limits Limits
	// Regexps keeps the filters' compiled regular expressions; nil: a
	// cache of its own.
	Regexps *fleet.RegexCache
	// RejectLogRate caps the audit entries of unauthenticated rejections
	// per reason and second (the rest are counted in one "suppressed"
	// entry per second); 0 = 10.
	RejectLogRate int
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
	Input      json.RawMessage `json:"input,omitempty"` // only for authenticated requests
	Status     fleet.Status    `json:"status"`
	Message    string          `json:"message,omitempty"`
	Elapsed    time.Duration   `json:"elapsed_ns"`
	// Reason is the short code of a rejection before authentication
	// (RejectTooLarge …); such entries carry no input.
	Reason string `json:"reason,omitempty"`
	// Suppressed, on an entry of its own, counts the rejections of Reason
	// left out of the audit in the last second (RejectLogRate).
	Suppressed int `json:"suppressed,omitempty"`
}

// DiscoveryAgent is the agent name discovery requests carry; node policy
// sees it like any other agent ("discovery.discover").
const DiscoveryAgent = "discovery"

// Server answers requests on a node: it subscribes to the node's direct
// subject, each agent's broadcast and any-one subjects, and discovery, and
// dispatches checked requests to the providers.
type Server struct {
	nc     *nats.Conn
	o      ServerOptions
	pub    string
	priv   ed25519.PrivateKey // of o.Key, derived once
	subs   []*nats.Subscription
	sem    chan struct{}
	wg     sync.WaitGroup
	limit  *rejectLimiter
	stopFl chan struct{} // closed at Shutdown: ends the suppressed-count flusher

	mu       sync.Mutex
	closing  bool
	queued   int            // requests received, not yet through admit (probe.go)
	inflight map[string]int // ids of admitted requests not yet answered (probe.go)

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
	if err := o.withDefaults(); err != nil {
		return nil, err
	}
	pub, err := o.Key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("rpc server: reading the node key: %w", err)
	}
	priv, err := privateKey(o.Key)
	if err != nil {
		return nil, fmt.Errorf("rpc server: the node key: %w", err)
	}
	return &Server{nc: nc, o: o, pub: pub, priv: priv, sem: make(chan struct{}, o.Concurrency),
		limit: newRejectLimiter(o.RejectLogRate), stopFl: make(chan struct{}), inflight: map[string]int{}}, nil
}

// withDefaults fills the zero values of the options that have defaults.
func (o *ServerOptions) withDefaults() error {
	if o.Key == nil {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return fmt.Errorf("rpc server: making a node key: %w", err)
		}
		o.Key = kp
	}
	if o.Replay == nil {
		o.Replay = NewMemoryReplayGuard(0)
	}
	if o.Regexps == nil {
		o.Regexps = fleet.NewRegexCache(0)
	}
	o.Limits = o.Limits.withDefaults()
	if o.RejectLogRate <= 0 {
		o.RejectLogRate = 10
	}
	return nil
}

// PublicKey is the public key of the node's key: the key replies are
// signed with, for the node's registry entry.
func (s *Server) PublicKey() string { return s.pub }

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
	go s.flushSuppressed()
	return nil
}

// Shutdown stops taking requests and waits for those in flight, until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.stopFl)
	}
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
	if t := s.accept(m, kind); t != nil {
		go s.run(m, kind, t)
	}
}

// accept answers liveness probes itself and returns the tracking of m
// when it is to be run, nil otherwise; a request accepted must be run (it
// is counted as in flight, and as queued for the probes until admitted).
// Messages of one subscription arrive in order, so a probe sent after a
// request is answered after the request was counted.
func (s *Server) accept(m *nats.Msg, kind msgKind) *reqTrack {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	if kind == kindDirect && m.Header.Get(ProbeHeader) != "" {
		s.mu.Unlock()
		// A liveness probe (ProbeHeader): "still here", and what the node
		// knows of the request it names. It does nothing, so it is
		// neither checked nor audited.
		s.answerProbe(m)
		return nil
	}
	s.wg.Add(1)
	t := s.track()
	s.mu.Unlock()
	return t
}

// run handles an accepted request within the concurrency bound.
func (s *Server) run(m *nats.Msg, kind msgKind, t *reqTrack) {
	s.sem <- struct{}{}
	defer func() { <-s.sem; s.wg.Done() }()
	defer s.untrack(t) // after the reply was sent: the request is done
	// handle recovers from provider panics itself and answers them; this
	// is the backstop for a panic anywhere else on the request's path
	// (the node's Info, Authorize or Audit), which would otherwise end
	// the whole agent. Such a request gets no reply.
	defer func() {
		if r := recover(); r != nil {
			s.o.Logger.Error("request handling panicked", "subject", m.Subject, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.handle(m, kind, t)
}

// handle checks one request in the documented order (see
// docs/protocol.md) and answers it: admit (before authentication: limits,
// cheap prefilter, trust list, signature, time, replay), then policy,
// filters, agent, action and schema, then the provider.
func (s *Server) handle(m *nats.Msg, kind msgKind, t *reqTrack) {
	start := time.Now()
	req, rej := s.admit(m, kind, start)
	if rej == nil {
		s.admitted(t, req.ID)
	} else {
		s.admitted(t, "")
	}
	switch {
	case rej == errSilent:
		return
	case rej != nil:
		s.reject(m, req, start, rej)
		return
	}
	if err := s.authorize(req, kind); err != nil {
		if err == errSilent {
			return
		}
		s.finish(m, req, start, nil, err)
		return
	}
	if kind == kindDiscover {
		info := s.info()
		s.finish(m, req, start, &Result{Data: info}, nil)
		return
	}
	h, ok := s.handler(req.Agent) // o.Handlers, then extra agents (server_extra.go)
	if !ok {
		s.finish(m, req, start, nil, fleet.Errorf(fleet.StatusUnknownAgent, "agent %q is not served by %s", req.Agent, s.o.Identity))
		return
	}
	action, ok := h.Schema().Action(req.Action)
	if !ok {
		s.finish(m, req, start, nil, fleet.Errorf(fleet.StatusUnknownAction, "agent %s has no action %q (it has: %v)", req.Agent, req.Action, h.Schema().ActionNames()))
		return
	}
	input, err := validateInput(action, req.Data)
	if err != nil {
		s.finish(m, req, start, nil, err)
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), req.Time.Add(req.TTL))
	defer cancel()
	res, err := s.call(ctx, h, &Call{
		RequestID: req.ID, Agent: req.Agent, Action: req.Action, Input: input,
		CallerKey: req.SenderKey, CallerName: req.SenderName, NoOp: req.NoOp,
	})
	s.finish(m, req, start, res, err)
}

// info is the node's Info with its public key.
func (s *Server) info() fleet.NodeInfo {
	info := s.o.Info()
	if info.PublicKey == "" {
		info.PublicKey = s.pub
	}
	return info
}

// validateInput decodes a request's input and checks it against the
// action's schema.
func validateInput(action *ddl.Action, data json.RawMessage) (map[string]any, error) {
	input := map[string]any{}
	if len(data) > 0 && string(data) != "null" {
		if err := json.Unmarshal(data, &input); err != nil {
			return nil, fleet.Errorf(fleet.StatusInvalidInput, "input is not a JSON object: %v", err)
		}
	}
	input, err := action.Validate(input)
	if err != nil {
		status := fleet.StatusInvalidInput
		var de *ddl.Error
		if errors.As(err, &de) && de.Missing {
			status = fleet.StatusMissingInput
		}
		return nil, fleet.Errorf(status, "%v", err)
	}
	return input, nil
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
	s.respond(m, &reply)
}

// respond signs reply and sends it to m's reply subject, if any.
func (s *Server) respond(m *nats.Msg, reply *fleet.Reply) {
	if m.Reply == "" {
		return
	}
	signReply(reply, s.priv)
	b, merr := json.Marshal(reply)
	if merr != nil {
		s.o.Logger.Error("encoding reply", "err", merr)
		return
	}
	if perr := m.Respond(b); perr != nil {
		s.o.Logger.Warn("sending reply", "request", reply.RequestID, "err", perr)
	}
}
