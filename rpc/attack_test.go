package rpc_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// attacker is a connection with no key the nodes trust.
func attacker(t *testing.T, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startGuardedNode starts node id serving echo with o's checks (trust
// list, regex cache…), registered with its key; it returns the node and
// its audit.
func startGuardedNode(t *testing.T, s *server.Server, id string, o rpc.ServerOptions) *testNode {
	t.Helper()
	nc := attacker(t, s)
	key, pub := nodeKey(t)
	info := fleet.NodeInfo{Identity: id, Collective: rpc.DefaultCollective, PublicKey: pub, Facts: map[string]any{"cluster": "alfa"}, Agents: map[string]string{"echo": "1"}}
	n := &testNode{nc: nc}
	o.Identity, o.Key, o.Info = id, key, func() fleet.NodeInfo { return info }
	o.Handlers = map[string]rpc.Handler{"echo": echo{id}}
	o.Audit = func(a rpc.AuditEntry) {
		n.mu.Lock()
		n.audit = append(n.audit, a)
		n.mu.Unlock()
	}
	srv, err := rpc.NewServer(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rpc.Register(context.Background(), nc, info, time.Minute); err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	t.Cleanup(n.stop)
	return n
}

// TestForgedRepliesRaceTheRealOne: an attacker reading the bus answers
// every request to web1 before web1 does (web1 waits until the forgery
// reached the broker) — unsigned, signed by its own key, as another node,
// or replaying a genuine reply of web1 to an earlier request. The client
// drops and counts every forgery and judges only web1's own reply (here a
// failure the forgery claimed was OK).
func TestForgedRepliesRaceTheRealOne(t *testing.T) {
	s := natstest.Start(t)
	forged := make(chan struct{}, 16)
	startGuardedNode(t, s, "web1", rpc.ServerOptions{Authorize: func(req *rpc.Request) error {
		if strings.Contains(string(req.Data), "fail") {
			select {
			case <-forged:
			case <-time.After(5 * time.Second):
			}
		}
		return nil
	}})
	startNode(t, s, "web2", nil, nil, nil)
	c, _ := newClient(t, s)
	ctx := context.Background()
	old, err := c.Call(ctx, fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": "x"}, Targets: []string{"web1", "web2"}})
	if err != nil || len(old.Replies) != 2 {
		t.Fatalf("first call: %v %+v", err, old)
	}
	var web1Old, web2Old *fleet.Reply
	for _, r := range old.Replies {
		if r.Identity == "web1" {
			web1Old = r
		} else {
			web2Old = r
		}
	}
	mallory, _ := nkeys.CreateUser()
	forgeries := map[string]func(req *rpc.Request) *fleet.Reply{
		"unsigned": func(req *rpc.Request) *fleet.Reply {
			return &fleet.Reply{Version: 1, RequestID: req.ID, Identity: "web1", Status: fleet.StatusOK, Data: json.RawMessage(`{"out":"forged"}`)}
		},
		"signed by another key": func(req *rpc.Request) *fleet.Reply {
			r := &fleet.Reply{Version: 1, RequestID: req.ID, Identity: "web1", Status: fleet.StatusOK}
			_ = rpc.SignReply(r, mallory)
			return r
		},
		"web2's genuine reply, as web1's":    func(*rpc.Request) *fleet.Reply { return web2Old },
		"web1's reply to an earlier request": func(*rpc.Request) *fleet.Reply { return web1Old },
	}
	for name, forge := range forgeries {
		t.Run(name, func(t *testing.T) {
			sub := forger(t, s, "web1", forge, forged)
			before := c.DroppedReplies()
			res, err := c.Call(ctx, fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": "x", "fail": true}, Targets: []string{"web1"}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Replies) != 1 || res.Replies[0].Status != fleet.StatusAborted || !strings.Contains(res.Replies[0].Message, "asked to fail on web1") {
				t.Fatalf("replies %+v: want web1's own failure", res.Replies)
			}
			eventually(t, 5*time.Second, func() bool { return sub.forged() > 0 })
			if res.DroppedReplies != 1 || c.DroppedReplies()-before != 1 {
				t.Errorf("dropped %d in the result, %d on the client; want 1", res.DroppedReplies, c.DroppedReplies()-before)
			}
		})
	}
}

// forgerSub answers every request on identity's subject with a forgery.
type forgerSub struct {
	mu sync.Mutex
	n  int
}

func (f *forgerSub) forged() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func forger(t *testing.T, s *server.Server, identity string, forge func(*rpc.Request) *fleet.Reply, done chan<- struct{}) *forgerSub {
	t.Helper()
	nc := attacker(t, s)
	f := &forgerSub{}
	sub, err := nc.Subscribe(rpc.DirectSubject(rpc.DefaultCollective, identity), func(m *nats.Msg) {
		var req rpc.Request
		if m.Header.Get(rpc.ProbeHeader) != "" || json.Unmarshal(m.Data, &req) != nil {
			return
		}
		b, _ := json.Marshal(forge(&req))
		_ = m.Respond(b)
		_ = nc.Flush()
		f.mu.Lock()
		f.n++
		f.mu.Unlock()
		done <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

// send publishes req on subject and returns the node's reply.
func send(t *testing.T, nc *nats.Conn, subject string, req *rpc.Request) fleet.Reply {
	t.Helper()
	b, _ := json.Marshal(req)
	m, err := nc.Request(subject, b, 5*time.Second)
	if err != nil {
		t.Fatalf("request on %s: %v", subject, err)
	}
	var rep fleet.Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// newRequest is a request to echo.say, signed by kp when it is not nil.
func newRequest(t *testing.T, kp nkeys.KeyPair, id string, f *fleet.Filter) *rpc.Request {
	t.Helper()
	req := &rpc.Request{Version: rpc.ProtocolVersion, ID: id, SenderName: "tester", Collective: rpc.DefaultCollective,
		Agent: "echo", Action: "say", Data: json.RawMessage(`{"text":"hi"}`), Filter: f, Time: time.Now().UTC(), TTL: time.Minute}
	if kp != nil {
		if err := rpc.Sign(req, kp); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

// trustOnly is a trust list of the keys given.
func trustOnly(keys ...nkeys.KeyPair) func(string) bool {
	set := map[string]bool{}
	for _, k := range keys {
		pub, _ := k.PublicKey()
		set[pub] = true
	}
	return func(key string) bool { return set[key] }
}

// TestRequestIDPoisoning: requests an attacker sends with the id of a
// trusted client's request — from an untrusted key, or claiming the
// trusted key with a bad signature — are refused before the replay guard,
// so the trusted request with that id still runs; its replay does not.
func TestRequestIDPoisoning(t *testing.T) {
	s := natstest.Start(t)
	ops, _ := nkeys.CreateUser()
	mallory, _ := nkeys.CreateUser()
	startGuardedNode(t, s, "web1", rpc.ServerOptions{Trusted: trustOnly(ops)})
	nc := attacker(t, s)
	subject := rpc.DirectSubject(rpc.DefaultCollective, "web1")
	id := rpc.NewRequestID()
	forged := newRequest(t, ops, id, nil)
	forged.Data = json.RawMessage(`{"text":"tampered"}`)
	steps := []struct {
		name string
		req  *rpc.Request
		want fleet.Status
		msg  string
	}{
		{"untrusted key", newRequest(t, mallory, id, nil), fleet.StatusUnauthorised, "not trusted"},
		{"trusted key, bad signature", forged, fleet.StatusUnauthorised, "does not verify"},
		{"the trusted request", newRequest(t, ops, id, nil), fleet.StatusOK, ""},
		{"its replay", newRequest(t, ops, id, nil), fleet.StatusUnauthorised, "replay"},
	}
	for _, st := range steps {
		rep := send(t, nc, subject, st.req)
		if rep.Status != st.want || !strings.Contains(rep.Message, st.msg) {
			t.Fatalf("%s: %s %q, want %s with %q", st.name, rep.Status, rep.Message, st.want, st.msg)
		}
	}
}

// TestNoRegexBeforeAuthentication: unsigned, badly signed and untrusted
// requests carrying regular-expression filters (broadcast and direct) are
// refused without a regular expression compiled or evaluated; an
// oversized pattern is refused by the shape limits; a trusted request's
// regex is compiled once and then taken from the cache.
func TestNoRegexBeforeAuthentication(t *testing.T) {
	s := natstest.Start(t)
	ops, _ := nkeys.CreateUser()
	mallory, _ := nkeys.CreateUser()
	rx := fleet.NewRegexCache(0)
	startGuardedNode(t, s, "web1", rpc.ServerOptions{Trusted: trustOnly(ops), Regexps: rx})
	nc := attacker(t, s)
	evil := &fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "=~", Value: "(a|aa)+$"}}, Identities: []string{"/^web/"}}
	huge := &fleet.Filter{Classes: []string{"/" + strings.Repeat("(x+x+)+y", 12800) + "/"}}
	bcast := rpc.BroadcastSubject(rpc.DefaultCollective, "echo")
	direct := rpc.DirectSubject(rpc.DefaultCollective, "web1")
	badSig := newRequest(t, ops, rpc.NewRequestID(), evil)
	badSig.SenderName = "someone else"
	cases := map[string]struct {
		subject string
		req     *rpc.Request
		want    fleet.Status
	}{
		"unsigned broadcast":       {bcast, newRequest(t, nil, rpc.NewRequestID(), evil), fleet.StatusUnauthorised},
		"untrusted broadcast":      {bcast, newRequest(t, mallory, rpc.NewRequestID(), evil), fleet.StatusUnauthorised},
		"badly signed broadcast":   {bcast, badSig, fleet.StatusUnauthorised},
		"unsigned direct":          {direct, newRequest(t, nil, rpc.NewRequestID(), evil), fleet.StatusUnauthorised},
		"100 KB pattern, trusted":  {bcast, newRequest(t, ops, rpc.NewRequestID(), huge), fleet.StatusInvalidInput},
		"100 KB pattern, unsigned": {direct, newRequest(t, nil, rpc.NewRequestID(), huge), fleet.StatusInvalidInput},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if rep := send(t, nc, tc.subject, tc.req); rep.Status != tc.want {
				t.Fatalf("status %s %q, want %s", rep.Status, rep.Message, tc.want)
			}
			if rx.Compiles() != 0 || rx.Evals() != 0 {
				t.Fatalf("%d regex compiled, %d evaluated before authentication", rx.Compiles(), rx.Evals())
			}
		})
	}
	for i := range 3 {
		if rep := send(t, nc, bcast, newRequest(t, ops, rpc.NewRequestID(), &fleet.Filter{Identities: []string{"/^web/"}})); !rep.OK() {
			t.Fatalf("trusted broadcast: %s %q", rep.Status, rep.Message)
		}
		if rx.Compiles() != 1 || rx.Evals() != int64(i+1) {
			t.Fatalf("after %d trusted broadcasts: %d compiled, %d evaluated; want 1 and %d", i+1, rx.Compiles(), rx.Evals(), i+1)
		}
	}
}

// TestRejectedRequestsAuditedWithoutInput: 200 unsigned requests of about
// 100 KB each leave audit entries without their input, at most
// RejectLogRate a second, the rest counted in "suppressed" entries.
func TestRejectedRequestsAuditedWithoutInput(t *testing.T) {
	s := natstest.Start(t)
	ops, _ := nkeys.CreateUser()
	n := startGuardedNode(t, s, "web1", rpc.ServerOptions{Trusted: trustOnly(ops), RejectLogRate: 5})
	nc := attacker(t, s)
	const sent = 200
	big, _ := json.Marshal(map[string]string{"text": strings.Repeat("x", 100<<10)})
	for range sent {
		req := newRequest(t, nil, rpc.NewRequestID(), nil)
		req.Data = big
		b, _ := json.Marshal(req)
		if err := nc.Publish(rpc.DirectSubject(rpc.DefaultCollective, "web1"), b); err != nil {
			t.Fatal(err)
		}
	}
	var lines, suppressed, size int
	eventually(t, 10*time.Second, func() bool {
		lines, suppressed, size = 0, 0, 0
		for _, e := range n.entries() {
			b, _ := json.Marshal(e)
			size += len(b)
			if len(e.Input) > 0 {
				t.Fatalf("an unauthenticated rejection was audited with its input (%d bytes)", len(e.Input))
			}
			if e.Suppressed > 0 {
				suppressed += e.Suppressed
			} else {
				lines++
			}
		}
		return lines+suppressed == sent
	})
	t.Logf("%d requests of %d KB: %d audit lines + %d suppressed, %d bytes of audit", sent, len(big)>>10, lines, suppressed, size)
	if lines >= sent/2 || size > 40<<10 {
		t.Errorf("%d audit lines, %d bytes: not rate limited", lines, size)
	}
}

// TestPinnedNodeKeys: with pinned keys the client verifies replies
// against them only (data with HTML-escaped characters survives the
// round trip); a wrong pinned key drops the node's reply, counted and
// named, and a node without a pinned key is not called.
func TestPinnedNodeKeys(t *testing.T) {
	s := natstest.Start(t)
	web1 := startNode(t, s, "web1", nil, nil, nil)
	startNode(t, s, "web2", nil, nil, nil)
	_, wrong := nodeKey(t)
	nc := attacker(t, s)
	kp, _ := nkeys.CreateUser()
	cases := map[string]struct {
		pins      map[string]string
		wantOK    int
		wantDrop  int
		wantWhy   string
		wantInput string
	}{
		"right key":  {map[string]string{"web1": web1.srv.PublicKey()}, 1, 0, "", "<a&b>"},
		"wrong key":  {map[string]string{"web1": wrong}, 0, 1, "dropped unjudged", "x"},
		"not pinned": {map[string]string{"web2": wrong}, 0, 0, "no key is known", "x"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := rpc.NewClient(nc, kp, rpc.ClientOptions{NodeKeys: tc.pins})
			res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": tc.wantInput}, Targets: []string{"web1"}, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Replies) != tc.wantOK || res.DroppedReplies != tc.wantDrop || !strings.Contains(res.Absent["web1"], tc.wantWhy) {
				t.Fatalf("replies %+v, dropped %d, absent %q", res.Replies, res.DroppedReplies, res.Absent)
			}
			if tc.wantOK == 1 && !strings.Contains(string(res.Replies[0].Data), `\u003ca\u0026b\u003e`) {
				t.Errorf("data %s", res.Replies[0].Data)
			}
		})
	}
}
