package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// echo is a test provider: echo.say(text, times) returns the text repeated.
type echo struct{ identity string }

func (echo) Schema() *ddl.Agent {
	return &ddl.Agent{Name: "echo", Version: "1", Actions: []*ddl.Action{{
		Name: "say",
		Inputs: []ddl.Input{
			{Name: "text", Type: ddl.String, Required: true, MaxLength: 20},
			{Name: "times", Type: ddl.Integer, Default: int64(1), Min: ptr(1.0), Max: ptr(5.0)},
			{Name: "fail", Type: ddl.Boolean},
		},
	}}}
}

func ptr[T any](v T) *T { return &v }

func (e echo) Handle(_ context.Context, c *rpc.Call) (*rpc.Result, error) {
	if c.Input["fail"] == true {
		return nil, fmt.Errorf("asked to fail on %s", e.identity)
	}
	out := ""
	for range c.Input["times"].(int64) {
		out += c.Input["text"].(string)
	}
	return &rpc.Result{Data: map[string]any{"out": out, "node": e.identity}}, nil
}

type testNode struct {
	srv   *rpc.Server
	nc    *nats.Conn
	mu    sync.Mutex
	audit []rpc.AuditEntry
}

func (n *testNode) entries() []rpc.AuditEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]rpc.AuditEntry(nil), n.audit...)
}

// startNode starts an in-process node serving echo with the given facts.
func startNode(t testing.TB, s *server.Server, id string, facts map[string]any, classes []string, authorize func(*rpc.Request) error) *testNode {
	t.Helper()
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{nc: nc}
	key, pub := nodeKey(t)
	info := fleet.NodeInfo{Identity: id, Collective: rpc.DefaultCollective, PublicKey: pub, Facts: facts, Classes: classes, Agents: map[string]string{"echo": "1"}}
	srv, err := rpc.NewServer(nc, rpc.ServerOptions{
		Identity: id, Info: func() fleet.NodeInfo { return info }, Key: key,
		Handlers:  map[string]rpc.Handler{"echo": echo{id}},
		Authorize: authorize,
		Audit: func(a rpc.AuditEntry) {
			n.mu.Lock()
			n.audit = append(n.audit, a)
			n.mu.Unlock()
		},
	})
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
	t.Cleanup(func() { n.stop() })
	return n
}

// nodeKey makes a node key and returns it with its public key.
func nodeKey(t testing.TB) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

func (n *testNode) stop() {
	_ = n.srv.Shutdown(context.Background())
	n.nc.Close()
}

func newClient(t testing.TB, s *server.Server) (*rpc.Client, nkeys.KeyPair) {
	t.Helper()
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return rpc.NewClient(nc, kp, rpc.ClientOptions{Name: "tester"}), kp
}

// startTestFleet starts web1..web4 (cluster alfa for 1-2, bravo for 3-4) and lb1.
func startTestFleet(t *testing.T) (*server.Server, map[string]*testNode) {
	s := natstest.Start(t)
	nodes := map[string]*testNode{}
	for i := 1; i <= 4; i++ {
		cluster := "alfa"
		if i > 2 {
			cluster = "bravo"
		}
		id := fmt.Sprintf("web%d", i)
		nodes[id] = startNode(t, s, id, map[string]any{"cluster": cluster, "cpus": float64(i * 2)}, []string{"web"}, nil)
	}
	nodes["lb1"] = startNode(t, s, "lb1", map[string]any{"cluster": "edge", "cpus": float64(16)}, []string{"lb", "haproxy"}, nil)
	return s, nodes
}

func ids(nodes []fleet.NodeInfo) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Identity)
	}
	return out
}

func TestDiscoverFilters(t *testing.T) {
	s, _ := startTestFleet(t)
	c, _ := newClient(t, s)
	ff := func(s string) fleet.FactFilter {
		f, err := fleet.ParseFactFilter(s)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name   string
		filter fleet.Filter
		want   string
	}{
		{"all", fleet.Filter{}, "[lb1 web1 web2 web3 web4]"},
		{"fact equal", fleet.Filter{Facts: []fleet.FactFilter{ff("cluster=bravo")}}, "[web3 web4]"},
		{"fact regex", fleet.Filter{Facts: []fleet.FactFilter{ff("cluster=/al/")}}, "[web1 web2]"},
		{"fact numeric", fleet.Filter{Facts: []fleet.FactFilter{ff("cpus>=6")}}, "[lb1 web3 web4]"},
		{"fact not equal", fleet.Filter{Facts: []fleet.FactFilter{ff("cluster!=edge")}}, "[web1 web2 web3 web4]"},
		{"class", fleet.Filter{Classes: []string{"lb"}}, "[lb1]"},
		{"class regex", fleet.Filter{Classes: []string{"/^hap/"}}, "[lb1]"},
		{"agent", fleet.Filter{Agents: []string{"echo"}}, "[lb1 web1 web2 web3 web4]"},
		{"agent missing", fleet.Filter{Agents: []string{"haproxy"}}, "[]"},
		{"identity exact", fleet.Filter{Identities: []string{"web2", "lb1"}}, "[lb1 web2]"},
		{"identity regex", fleet.Filter{Identities: []string{"/^web[13]$/"}}, "[web1 web3]"},
		{"combined", fleet.Filter{Facts: []fleet.FactFilter{ff("cluster=bravo"), ff("cpus<8")}, Classes: []string{"web"}}, "[web3]"},
	}
	for _, method := range []string{rpc.DiscoverRegistry, rpc.DiscoverBroadcast} {
		for _, tt := range tests {
			t.Run(method+"/"+tt.name, func(t *testing.T) {
				nodes, err := c.Discover(context.Background(), tt.filter, rpc.DiscoverOptions{Method: method, Quiet: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(ids(nodes)); got != tt.want {
					t.Errorf("got %s, want %s", got, tt.want)
				}
			})
		}
	}
}

func TestDiscoverAutoFallsBackToBroadcast(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	info := fleet.NodeInfo{Identity: "solo", Collective: rpc.DefaultCollective, Agents: map[string]string{"echo": "1"}}
	srv, _ := rpc.NewServer(nc, rpc.ServerOptions{Identity: "solo", Info: func() fleet.NodeInfo { return info }, Handlers: map[string]rpc.Handler{"echo": echo{"solo"}}})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, s)
	if _, err := c.Discover(context.Background(), fleet.Filter{}, rpc.DiscoverOptions{Method: rpc.DiscoverRegistry}); err == nil {
		t.Fatal("registry discovery without a bucket should fail")
	}
	start := time.Now()
	nodes, err := c.Discover(context.Background(), fleet.Filter{}, rpc.DiscoverOptions{Quiet: 50 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(nodes)) != "[solo]" {
		t.Fatalf("got %v", ids(nodes))
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("broadcast discovery waited for the timeout (%s) instead of the quiet window", d)
	}
}

func TestCallAndMissingNode(t *testing.T) {
	s, nodes := startTestFleet(t)
	c, _ := newClient(t, s)
	ctx := context.Background()
	targets := []string{"web1", "web2", "web3", "web4"}
	res, err := c.Call(ctx, fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": "hi", "times": 2}, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 4 || len(res.Missing) != 0 {
		t.Fatalf("replies %d missing %v", len(res.Replies), res.Missing)
	}
	for _, r := range res.Replies {
		var d struct{ Out, Node string }
		if err := json.Unmarshal(r.Data, &d); err != nil || !r.OK() || d.Out != "hihi" || d.Node != r.Identity {
			t.Errorf("reply %+v data %+v err %v", r, d, err)
		}
	}
	nodes["web3"].stop()
	// web3 first: its "no responders" status arrives before the others'
	// replies and must still be reported as missing.
	for _, order := range [][]string{targets, {"web3", "web1", "web2", "web4"}} {
		for _, batch := range []int{4, 1, 3} {
			var missing []string
			replies := 0
			for i := 0; i < len(order); i += batch {
				res, err = c.Call(ctx, fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": "x"}, Targets: order[i:min(i+batch, len(order))], Timeout: 2 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				missing, replies = append(missing, res.Missing...), replies+len(res.Replies)
			}
			if fmt.Sprint(missing) != "[web3]" || replies != 3 {
				t.Fatalf("order %v batch %d: missing %v, %d replies", order, batch, missing, replies)
			}
		}
	}
}

func TestNodeStatuses(t *testing.T) {
	s := natstest.Start(t)
	deny := func(r *rpc.Request) error {
		if r.SenderName == "mallory" {
			return fleet.Errorf(fleet.StatusUnauthorised, "caller %s may not call %s.%s", r.SenderName, r.Agent, r.Action)
		}
		return nil
	}
	node := startNode(t, s, "n1", nil, nil, deny)
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kp, _ := nkeys.CreateUser()
	other, _ := nkeys.CreateUser()
	base := func() *rpc.Request {
		return &rpc.Request{Version: rpc.ProtocolVersion, ID: rpc.NewRequestID(), SenderName: "alice", Collective: rpc.DefaultCollective,
			Agent: "echo", Action: "say", Data: json.RawMessage(`{"text":"hi"}`), Time: time.Now().UTC(), TTL: time.Minute}
	}
	signed := func(r *rpc.Request) *rpc.Request {
		if err := rpc.Sign(r, kp); err != nil {
			t.Fatal(err)
		}
		return r
	}
	replayed := signed(base())
	tests := []struct {
		name string
		req  func() *rpc.Request
		want fleet.Status
	}{
		{"ok", func() *rpc.Request { return signed(base()) }, fleet.StatusOK},
		{"unsigned", base, fleet.StatusUnauthorised},
		{"bad signature", func() *rpc.Request {
			r := signed(base())
			r.Data = json.RawMessage(`{"text":"tampered"}`)
			return r
		}, fleet.StatusUnauthorised},
		{"signed by another key", func() *rpc.Request {
			r := signed(base())
			pub, _ := other.PublicKey()
			r.SenderKey = pub
			return r
		}, fleet.StatusUnauthorised},
		{"expired", func() *rpc.Request {
			r := base()
			r.Time = time.Now().Add(-2 * time.Minute)
			return signed(r)
		}, fleet.StatusUnauthorised},
		{"future dated", func() *rpc.Request {
			r := base()
			r.Time = time.Now().Add(time.Hour)
			return signed(r)
		}, fleet.StatusUnauthorised},
		{"first of replay", func() *rpc.Request { return replayed }, fleet.StatusOK},
		{"replay", func() *rpc.Request { return replayed }, fleet.StatusUnauthorised},
		{"policy deny", func() *rpc.Request {
			r := base()
			r.SenderName = "mallory"
			return signed(r)
		}, fleet.StatusUnauthorised},
		{"unknown agent", func() *rpc.Request {
			r := base()
			r.Agent = "nope"
			return signed(r)
		}, fleet.StatusUnknownAgent},
		{"unknown action", func() *rpc.Request {
			r := base()
			r.Action = "shout"
			return signed(r)
		}, fleet.StatusUnknownAction},
		{"missing input", func() *rpc.Request {
			r := base()
			r.Data = json.RawMessage(`{}`)
			return signed(r)
		}, fleet.StatusMissingInput},
		{"invalid input", func() *rpc.Request {
			r := base()
			r.Data = json.RawMessage(`{"text":"hi","times":9}`)
			return signed(r)
		}, fleet.StatusInvalidInput},
		{"too long", func() *rpc.Request {
			r := base()
			r.Data = json.RawMessage(`{"text":"123456789012345678901"}`)
			return signed(r)
		}, fleet.StatusInvalidInput},
		{"handler error", func() *rpc.Request {
			r := base()
			r.Data = json.RawMessage(`{"text":"hi","fail":true}`)
			return signed(r)
		}, fleet.StatusAborted},
		{"wrong collective", func() *rpc.Request {
			r := base()
			r.Collective = "other"
			return signed(r)
		}, fleet.StatusInvalidInput},
		{"not addressed here", func() *rpc.Request {
			r := base()
			r.Filter = &fleet.Filter{Identities: []string{"n2"}}
			return signed(r)
		}, fleet.StatusUnauthorised},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			b, _ := json.Marshal(req)
			m, err := nc.Request(rpc.DirectSubject(rpc.DefaultCollective, "n1"), b, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var rep fleet.Reply
			if err := json.Unmarshal(m.Data, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Status != tt.want {
				t.Fatalf("status %s (%s), want %s", rep.Status, rep.Message, tt.want)
			}
			if rep.Status != fleet.StatusOK && rep.Message == "" {
				t.Error("a rejection must say why")
			}
			audit := node.entries()
			last := audit[len(audit)-1]
			if last.RequestID != req.ID || last.Status != tt.want {
				t.Errorf("audit %+v, want request %s status %s", last, req.ID, tt.want)
			}
		})
	}
}

func TestAnyOneFailover(t *testing.T) {
	s, nodes := startTestFleet(t)
	c, _ := newClient(t, s)
	nodes["web1"].stop()
	res, err := c.CallAnyOne(context.Background(), fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": "a"}, Targets: []string{"web1", "web2", "web3"}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Identity != "web2" || !res.Replies[0].OK() {
		t.Fatalf("replies %+v", res.Replies)
	}
	if fmt.Sprint(res.Missing) != "[web1]" {
		t.Errorf("missing %v", res.Missing)
	}
	// Queue group: one node answers.
	res, err = c.CallAnyOne(context.Background(), fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || !res.Replies[0].OK() {
		t.Fatalf("queue group replies %+v", res.Replies)
	}
}

func TestClientSideValidation(t *testing.T) {
	s := natstest.Start(t)
	c, _ := newClient(t, s)
	c.SetSchemas(func(agent string) *ddl.Agent {
		if agent == "echo" {
			return echo{}.Schema()
		}
		return nil
	})
	_, err := c.Call(context.Background(), fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{}, Targets: []string{"x"}})
	var de *ddl.Error
	if !errors.As(err, &de) || !de.Missing {
		t.Fatalf("want missing-input error before sending, got %v", err)
	}
	_, err = c.Call(context.Background(), fleet.CallRequest{Agent: "echo", Action: "shout", Targets: []string{"x"}})
	var se *fleet.StatusError
	if !errors.As(err, &se) || se.Status != fleet.StatusUnknownAction {
		t.Fatalf("want unknown action, got %v", err)
	}
}

func TestParseFactFilter(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"cluster=bravo", "cluster==bravo", false},
		{"cluster==bravo", "cluster==bravo", false},
		{"cluster=/al/", "cluster=/al/", false},
		{"cluster=~al", "cluster=/al/", false},
		{"cpus>=4", "cpus>=4", false},
		{"cpus<4", "cpus<4", false},
		{"os!=linux", "os!=linux", false},
		{"cpus>=four", "", true},
		{"cluster=/(/", "", true},
		{"=x", "", true},
		{"nothing", "", true},
	}
	for _, tt := range tests {
		f, err := fleet.ParseFactFilter(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("%s: want error, got %v", tt.in, f)
			}
			continue
		}
		if err != nil || f.String() != tt.want {
			t.Errorf("%s: got %v %v, want %s", tt.in, f, err, tt.want)
		}
	}
}

func TestKVKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"webapp-alfa", "webapp-alfa"},
		{"webapp alfa/bravo", "webapp_alfa_bravo"},
		{"a.b=c", "a.b=c"},
		{".lead.trail.", "_lead.trail_"},
		{"héllo*>", "h__llo__"},
	} {
		if got := rpc.KVKey(tc.in); got != tc.want {
			t.Errorf("KVKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A filter that selects nothing gets the closest fact, value, class or
// agent the fleet reports.
func TestSuggest(t *testing.T) {
	s, _ := startTestFleet(t)
	c, _ := newClient(t, s)
	fl := rpc.NewFleet(c, rpc.DiscoverOptions{})
	tests := map[string]struct {
		f    fleet.Filter
		want string
	}{
		"value typo":  {fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "brvo"}}}, "did you mean cluster=bravo?"},
		"name typo":   {fleet.Filter{Facts: []fleet.FactFilter{{Fact: "clustr", Op: "==", Value: "bravo"}}}, `no node has a fact "clustr": did you mean cluster?`},
		"far value":   {fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "zzzzzzzzzz"}}}, "the values seen are: alfa, bravo, edge"},
		"class typo":  {fleet.Filter{Classes: []string{"wbe"}}, `did you mean "web"?`},
		"agent typo":  {fleet.Filter{Agents: []string{"ehco"}}, `did you mean "echo"?`},
		"no mismatch": {fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cpus", Op: ">", Value: "100"}}}, "5 node(s) are in collective"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := fl.Suggest(context.Background(), tc.f); !strings.Contains(got, tc.want) {
				t.Errorf("Suggest = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
