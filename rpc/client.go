package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
)

// Defaults of the client.
const (
	DefaultCallTimeout      = 10 * time.Second
	DefaultDiscoveryTimeout = 2 * time.Second
	DefaultDiscoveryQuiet   = 100 * time.Millisecond
	// DefaultDiscoveryMinWait is the least broadcast discovery waits for
	// replies, however quiet the fleet: many nodes woken at once on few
	// cores can all be silent for longer than the quiet window.
	DefaultDiscoveryMinWait = 300 * time.Millisecond
	// requestTTLMargin is added to the call timeout to form the request's
	// validity: long enough for the node to start the work, short enough that
	// a captured request is soon useless.
	requestTTLMargin = 30 * time.Second
	// identitiesInFilter is the largest batch whose target identities travel
	// in the signed filter, so that a captured direct request cannot be
	// redirected to another node.
	identitiesInFilter = 64
)

// ClientOptions configure a Client.
type ClientOptions struct {
	Collective string // subject prefix; "" = DefaultCollective
	Name       string // sender name for audit logs, e.g. user@host
	// Liveness says how calls watch the targets that have not answered;
	// the zero value probes every 2s and fails a hung node after 30s.
	Liveness Liveness
	// Broker, when set, is the watch on the connection (its Options were
	// given to Connect): calls fail with its *fleet.BrokerLostError once
	// it gave up on the broker. Nil: a closed connection is reported as a
	// lost broker, but a broker that never comes back is waited for until
	// each call's timeout.
	Broker *BrokerWatch
	// NodeKeys pins the nodes' public keys (identity -> "U…"): replies
	// are verified against these only, and a node not in the list cannot
	// be called. Nil: each node's key is read from its registry entry
	// (or, for a fleet without a registry, learned from its broadcast
	// discovery reply).
	NodeKeys map[string]string
}

// Client calls actions on nodes. It is safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	key     nkeys.KeyPair
	o       ClientOptions
	schemas func(agent string) *ddl.Agent
	url     string // the broker connected to at NewClient, for messages
	cacheMu sync.Mutex
	cache   *registryCache // set by WatchRegistry

	keys    *nodeKeys
	dropped atomic.Int64
	signer  *requestSigner // nil when key has no seed: Sign reports it
	// publish sends a call's requests (not probes); nil: the
	// connection's PublishMsg. Tests set it to lose requests.
	publish func(*nats.Msg) error
}

// NewClient returns a client signing its requests with key.
func NewClient(nc *nats.Conn, key nkeys.KeyPair, o ClientOptions) *Client {
	if o.Collective == "" {
		o.Collective = DefaultCollective
	}
	if o.Broker != nil {
		o.Broker.attach(nc)
	}
	c := &Client{nc: nc, key: key, o: o, url: nc.ConnectedUrlRedacted(), keys: newNodeKeys(o.NodeKeys)}
	if s, err := newRequestSigner(key); err == nil {
		c.signer = s
	}
	return c
}

// Broker returns the watch on the client's connection; nil when it has
// none.
func (c *Client) Broker() *BrokerWatch { return c.o.Broker }

// Conn returns the client's NATS connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// Collective returns the client's subject prefix.
func (c *Client) Collective() string { return c.o.Collective }

// Caller returns the public key the client signs with and its name, as
// nodes see them in their audit logs.
func (c *Client) Caller() (key, name string) {
	key, _ = c.key.PublicKey()
	return key, c.o.Name
}

// SetSchemas makes the client validate inputs before sending, with the
// schema lookup returns for an agent (nil: unknown agent, not validated).
func (c *Client) SetSchemas(lookup func(agent string) *ddl.Agent) { c.schemas = lookup }

// newRequest builds and signs a request.
func (c *Client) newRequest(id, agent, action string, data json.RawMessage, f *fleet.Filter, noop bool, timeout time.Duration) (*Request, []byte, error) {
	if id == "" {
		id = NewRequestID()
	}
	req := &Request{
		Version: ProtocolVersion, ID: id, SenderName: c.o.Name, Collective: c.o.Collective,
		Agent: agent, Action: action, Data: data, Filter: f, NoOp: noop,
		Time: time.Now().UTC(), TTL: timeout + requestTTLMargin,
	}
	sign := func(r *Request) error { return Sign(r, c.key) }
	if c.signer != nil {
		sign = c.signer.sign
	}
	if err := sign(req); err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding request: %w", err)
	}
	return req, b, nil
}

// encodeInput validates input against the agent's schema when known, and
// encodes it.
func (c *Client) encodeInput(agent, action string, input map[string]any) (json.RawMessage, error) {
	if c.schemas != nil {
		if s := c.schemas(agent); s != nil {
			a, ok := s.Action(action)
			if !ok {
				return nil, &fleet.StatusError{Status: fleet.StatusUnknownAction, Message: fmt.Sprintf("agent %s has no action %q (it has: %s)", agent, action, strings.Join(s.ActionNames(), ", "))}
			}
			if _, err := a.Validate(input); err != nil {
				return nil, err
			}
		}
	}
	if input == nil {
		input = map[string]any{}
	}
	b, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("encoding input of %s.%s: %w", agent, action, err)
	}
	return b, nil
}

// Call sends the action to every target node directly, all at once, and
// collects the replies. It returns when every target answered, was found
// gone (ClientOptions.Liveness) or the timeout passed; nodes that did not
// answer are listed in Missing, and those known gone also in Absent.
// Replies that do not verify (see ClientOptions.NodeKeys) are dropped and
// counted in DroppedReplies. An error without a result means the call
// could not be made at all (bad input); when the broker is lost the error
// wraps fleet.ErrBrokerLost and the result holds what was received before.
// Batches, retries and judging are the call executor's (package call).
func (c *Client) Call(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	start := time.Now()
	data, err := c.encodeInput(r.Agent, r.Action, r.Input)
	if err != nil {
		return nil, err
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultCallTimeout
	}
	res := &fleet.CallResult{}
	if len(r.Targets) > 0 {
		var b batch
		b, err = c.callBatch(ctx, r, data, r.Targets)
		res.Replies, res.Missing, res.Absent, res.DroppedReplies = b.replies, b.missing, b.absent, b.dropped
	}
	sort.Strings(res.Missing)
	res.Elapsed = time.Since(start)
	if err != nil && !errors.Is(err, fleet.ErrBrokerLost) {
		return nil, err
	}
	return res, err
}

// callBatch publishes one signed request to each target's direct subject,
// all onto one reply inbox (a reply subject per target index, so that a "no
// responders" status names its node), and collects until every target
// answered or was found gone, the timeout passed or ctx is done. Targets
// whose key the client cannot learn are not called (their replies could
// not be verified). While it waits it probes the silent targets
// (waiter.probe). A lost broker ends it with what it got and a
// *fleet.BrokerLostError.
func (c *Client) callBatch(ctx context.Context, r fleet.CallRequest, data json.RawMessage, targets []string) (batch, error) {
	var f *fleet.Filter
	if len(targets) <= identitiesInFilter {
		f = &fleet.Filter{Identities: targets}
	}
	req, b, err := c.newRequest(r.RequestID, r.Agent, r.Action, data, f, r.NoOp, r.Timeout)
	if err != nil {
		return batch{}, err
	}
	unknown := map[string]bool{}
	for _, t := range c.ensureKeys(ctx, targets) {
		unknown[t] = true
	}
	inbox := c.nc.NewRespInbox()
	ch := make(chan *nats.Msg, 2*len(targets)+8)
	sub, err := c.nc.ChanSubscribe(inbox+".*", ch)
	if err != nil {
		return batch{missing: targets}, c.connErr(fmt.Errorf("subscribing to reply inbox: %w", err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	w := c.newWaiter(r, req, b, targets, inbox)
	for i, t := range targets {
		if unknown[t] {
			w.gone(i, errNoNodeKey.Error())
			continue
		}
		if err := c.sendRequest(r, t, inbox+"."+strconv.Itoa(i), b); err != nil {
			return batch{missing: targets}, err
		}
	}
	return c.wait(ctx, w, ch)
}

// sendRequest publishes the signed request b to target's direct subject
// with the reply subject reply.
func (c *Client) sendRequest(r fleet.CallRequest, target, reply string, b []byte) error {
	msg := &nats.Msg{Subject: DirectSubject(c.o.Collective, target), Reply: reply, Data: b}
	publish := c.nc.PublishMsg
	if c.publish != nil {
		publish = c.publish
	}
	if err := publish(msg); err != nil {
		return c.connErr(fmt.Errorf("sending %s.%s to %s: %w", r.Agent, r.Action, target, err))
	}
	return nil
}

// wait runs w until every target is settled, the timeout, ctx or the loss
// of the broker.
func (c *Client) wait(ctx context.Context, w *waiter, ch <-chan *nats.Msg) (batch, error) {
	timer := time.NewTimer(w.r.Timeout)
	defer timer.Stop()
	var tick <-chan time.Time
	if w.live.ProbeInterval > 0 {
		t := time.NewTicker(w.live.ProbeInterval)
		defer t.Stop()
		tick = t.C
	}
	// Small batches are verified right here: a worker pool would only add
	// a hand-over per reply.
	raw, in := ch, (<-chan inMsg)(nil)
	if len(w.targets) >= verifyPoolMin {
		var stop func()
		in, stop = w.verifyAll(ch)
		defer stop()
		raw = nil
	}
	for len(w.pending) > 0 {
		select {
		case m := <-raw:
			if err := w.handle(w.check(m)); err != nil {
				return w.result(err)
			}
		case m := <-in:
			if err := w.handle(m); err != nil {
				return w.result(err)
			}
		case <-tick:
			if err := w.probe(); err != nil {
				return w.result(err)
			}
		case <-c.brokerLost():
			return w.result(c.connErr(nats.ErrConnectionClosed))
		case <-timer.C:
			return w.result(nil)
		case <-ctx.Done():
			return w.result(nil)
		}
	}
	return w.result(nil)
}

// missingOf returns the targets without a reply.
func missingOf(targets []string, replies []*fleet.Reply) []string {
	got := make(map[string]bool, len(replies))
	for _, r := range replies {
		got[r.Identity] = true
	}
	var missing []string
	for _, t := range targets {
		if !got[t] {
			missing = append(missing, t)
		}
	}
	return missing
}

// CallAnyOne asks exactly one node to perform the action. With Targets, they
// are tried in order: when a node fails or is silent for r.Timeout, the next
// is tried, until one answers OK or all were tried. Without Targets the
// request goes to the agent's queue group, where NATS picks one node. The
// result holds every reply received; it succeeded when one of them is OK.
func (c *Client) CallAnyOne(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	start := time.Now()
	data, err := c.encodeInput(r.Agent, r.Action, r.Input)
	if err != nil {
		return nil, err
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultCallTimeout
	}
	res := &fleet.CallResult{}
	if r.RequestID == "" {
		// Every failover attempt carries the same request id, so that a
		// provider can tell a retry of work another node may have done
		// (angelia delivers a notification once).
		r.RequestID = NewRequestID()
	}
	if len(r.Targets) == 0 {
		rep, dropped, err := c.requestOne(ctx, AnyOneSubject(c.o.Collective, r.Agent), r, data)
		if err != nil {
			return nil, err
		}
		res.DroppedReplies = dropped
		if rep != nil {
			res.Replies = append(res.Replies, rep)
			if r.OnReply != nil {
				r.OnReply(rep)
			}
		}
		res.Elapsed = time.Since(start)
		return res, nil
	}
	for _, t := range r.Targets {
		if ctx.Err() != nil {
			break
		}
		one := r
		one.Targets = []string{t}
		b, err := c.callBatch(ctx, one, data, []string{t})
		replies := b.replies
		res.Replies = append(res.Replies, replies...)
		res.Missing = append(res.Missing, b.missing...)
		res.DroppedReplies += b.dropped
		for id, why := range b.absent {
			if res.Absent == nil {
				res.Absent = map[string]string{}
			}
			res.Absent[id] = why
		}
		if errors.Is(err, fleet.ErrBrokerLost) {
			sort.Strings(res.Missing)
			res.Elapsed = time.Since(start)
			return res, err
		}
		if err != nil {
			return nil, err
		}
		if len(replies) == 1 && replies[0].OK() && (r.Accept == nil || r.Accept(replies[0])) {
			break
		}
	}
	sort.Strings(res.Missing)
	res.Elapsed = time.Since(start)
	return res, nil
}

// requestOne sends one request on subject (a queue group: any node may
// answer) and waits for the first reply that verifies against the key of
// the node it names; others are dropped and counted. A nil reply without
// error means nobody answered.
func (c *Client) requestOne(ctx context.Context, subject string, r fleet.CallRequest, data json.RawMessage) (*fleet.Reply, int, error) {
	req, b, err := c.newRequest(r.RequestID, r.Agent, r.Action, data, nil, r.NoOp, r.Timeout)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	inbox := c.nc.NewRespInbox()
	ch := make(chan *nats.Msg, 16)
	sub, err := c.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, 0, c.connErr(fmt.Errorf("subscribing to reply inbox: %w", err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: inbox, Data: b}); err != nil {
		return nil, 0, c.connErr(fmt.Errorf("requesting %s: %w", subject, err))
	}
	dropped := 0
	for {
		select {
		case m := <-ch:
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				return nil, dropped, nil // no responders
			}
			var rep fleet.Reply
			if json.Unmarshal(m.Data, &rep) != nil || c.verifyReply(&rep, rep.Identity, req.ID) != nil {
				dropped++
				c.drop()
				continue
			}
			return &rep, dropped, nil
		case <-c.brokerLost():
			return nil, dropped, c.connErr(nats.ErrConnectionClosed)
		case <-ctx.Done():
			return nil, dropped, nil
		}
	}
}

// Discover returns the nodes f selects, sorted by identity.
func (c *Client) Discover(ctx context.Context, f fleet.Filter, o DiscoverOptions) ([]fleet.NodeInfo, error) {
	d, err := c.DiscoverFleet(ctx, f, o)
	if err != nil {
		return nil, err
	}
	return d.Nodes, nil
}

// DiscoverFleet returns the nodes f selects and, from the registry, those
// of them that went missing. DiscoverAuto reads the registry when it
// exists; when it exists but cannot be read it falls back to broadcast,
// saying so in the result's Warning and through o.Warn.
func (c *Client) DiscoverFleet(ctx context.Context, f fleet.Filter, o DiscoverOptions) (*Discovery, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var d *Discovery
	var err error
	switch o.Method {
	case DiscoverRegistry:
		d, err = c.discoverRegistry(ctx, f, o, true)
	case DiscoverBroadcast:
		d, err = c.discoverBroadcast(ctx, f, o)
	case DiscoverAuto:
		d, err = c.discoverRegistry(ctx, f, o, false)
		switch {
		case errors.Is(err, errNoRegistry):
			d, err = c.discoverBroadcast(ctx, f, o)
		case err != nil && ctx.Err() == nil:
			warning := fmt.Sprintf("the registry cannot be read (%v); discovering by broadcast, which cannot tell missing nodes", err)
			if o.Warn != nil {
				o.Warn(warning)
			}
			d, err = c.discoverBroadcast(ctx, f, o)
			if d != nil {
				d.Warning = warning
			}
		}
	default:
		return nil, fmt.Errorf("unknown discovery method %q (want registry or broadcast)", o.Method)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(d.Nodes, func(i, j int) bool { return d.Nodes[i].Identity < d.Nodes[j].Identity })
	sort.Slice(d.Missing, func(i, j int) bool { return d.Missing[i].Identity < d.Missing[j].Identity })
	return d, nil
}

// discoverBroadcast asks every node; those the filter selects answer with
// their fleet.NodeInfo. Collection ends once o.MinWait has passed since the
// request and no new reply came for the quiet window since the last one,
// with every reply already received handled (none is left queued), or at
// the timeout.
func (c *Client) discoverBroadcast(ctx context.Context, f fleet.Filter, o DiscoverOptions) (*Discovery, error) {
	o.Timeout = o.timeout()
	if o.Quiet <= 0 {
		o.Quiet = DefaultDiscoveryQuiet
	}
	if o.MinWait <= 0 {
		o.MinWait = DefaultDiscoveryMinWait
	}
	fp := &f
	if f.Empty() {
		fp = nil
	}
	req, b, err := c.newRequest("", DiscoveryAgent, "discover", nil, fp, false, o.Timeout)
	if err != nil {
		return nil, err
	}
	col := newCollector(func(data []byte) (fleet.NodeInfo, bool) { return c.discoveryReply(data, req.ID) })
	inbox := c.nc.NewRespInbox()
	sub, err := c.nc.Subscribe(inbox, col.add)
	if err != nil {
		return nil, fmt.Errorf("subscribing to discovery inbox: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Every reply is kept until handled: a large fleet answers in a burst.
	_ = sub.SetPendingLimits(-1, -1)
	start := time.Now()
	if err := c.nc.PublishMsg(&nats.Msg{Subject: DiscoverSubject(c.o.Collective), Reply: inbox, Data: b}); err != nil {
		return nil, fmt.Errorf("sending discovery request: %w", err)
	}
	if err := col.wait(ctx, sub, start, o); err != nil {
		return nil, err
	}
	_ = sub.Unsubscribe()
	return &Discovery{Method: DiscoverBroadcast, Nodes: col.result()}, nil
}

// collector gathers broadcast discovery replies as they are delivered.
type collector struct {
	parse  func([]byte) (fleet.NodeInfo, bool) // decodes and verifies a reply
	mu     sync.Mutex
	seen   map[string]bool
	nodes  []fleet.NodeInfo
	last   time.Time     // when the last new node answered
	notify chan struct{} // signalled (without blocking) on every new node
}

func newCollector(parse func([]byte) (fleet.NodeInfo, bool)) *collector {
	return &collector{parse: parse, seen: map[string]bool{}, notify: make(chan struct{}, 1)}
}

// add handles one reply (a nats.MsgHandler).
func (col *collector) add(m *nats.Msg) {
	if len(m.Data) == 0 {
		return // no-responders status: nobody listens
	}
	info, ok := col.parse(m.Data)
	if !ok {
		return
	}
	col.mu.Lock()
	if !col.seen[info.Identity] {
		col.seen[info.Identity] = true
		col.nodes = append(col.nodes, info)
		col.last = time.Now()
	}
	col.mu.Unlock()
	select {
	case col.notify <- struct{}{}:
	default:
	}
}

// result is what was collected.
func (col *collector) result() []fleet.NodeInfo {
	col.mu.Lock()
	defer col.mu.Unlock()
	return slices.Clone(col.nodes)
}

// wait returns once the collection is over (see discoverBroadcast).
func (col *collector) wait(ctx context.Context, sub *nats.Subscription, start time.Time, o DiscoverOptions) error {
	deadline := start.Add(o.Timeout)
	timer := time.NewTimer(o.MinWait)
	defer timer.Stop()
	for {
		col.mu.Lock()
		end := start.Add(o.MinWait)
		if q := col.last.Add(o.Quiet); q.After(end) {
			end = q
		}
		col.mu.Unlock()
		now := time.Now()
		if !now.Before(deadline) {
			return nil
		}
		if !now.Before(end) {
			if queued, _, err := sub.Pending(); err != nil || queued == 0 {
				return nil
			}
			end = now.Add(time.Millisecond) // replies wait to be handled: look again soon
		}
		if end.After(deadline) {
			end = deadline
		}
		timer.Reset(end.Sub(now))
		select {
		case <-col.notify:
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("discovering nodes: %w", ctx.Err())
		}
	}
}

// discoveryReply decodes and verifies one broadcast discovery reply to
// request id. The reply must be signed by the key the client knows for the
// node (pinned, or from the registry) or, when it knows none, by the key
// the reply itself declares, which it then learns: without a registry or
// pinned keys, a node's key is trusted on first discovery. Replies that
// fail are dropped and counted.
func (c *Client) discoveryReply(data []byte, id string) (fleet.NodeInfo, bool) {
	var rep fleet.Reply
	var info fleet.NodeInfo
	if err := json.Unmarshal(data, &rep); err != nil || !rep.OK() || json.Unmarshal(rep.Data, &info) != nil || info.Identity != rep.Identity {
		c.drop()
		return info, false
	}
	if _, known := c.keys.get(rep.Identity); !known && !c.keys.pinned {
		kp, err := parseNodeKey(info.PublicKey)
		if err != nil || VerifyReply(&rep, kp) != nil || rep.RequestID != id {
			c.drop()
			return info, false
		}
		c.keys.learn(info.Identity, info.PublicKey, keyFromBroadcast)
		return info, true
	}
	if err := c.verifyReply(&rep, rep.Identity, id); err != nil {
		c.drop()
		return info, false
	}
	return info, true
}
