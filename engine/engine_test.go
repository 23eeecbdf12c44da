package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/resources"
)

// fakeFleet answers calls in memory: behave decides each node's reply.
type fakeFleet struct {
	nodes  []string
	behave func(node, action string, attempt int) (fleet.Status, bool) // status, changed; "" = silent
	delay  time.Duration

	mu       sync.Mutex
	calls    []string // "action@node" in order
	perNode  map[string]int
	inFlight int32
	maxIn    int32
}

func (f *fakeFleet) Discover(_ context.Context, flt fleet.Filter) ([]string, error) {
	var out []string
	for _, n := range f.nodes {
		info := fleet.NodeInfo{Identity: n, Facts: map[string]any{"cluster": n[:1]}, Agents: map[string]string{"a": "1"}}
		if flt.Match(&info) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeFleet) Call(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	cur := atomic.AddInt32(&f.inFlight, 1)
	defer atomic.AddInt32(&f.inFlight, -1)
	for {
		m := atomic.LoadInt32(&f.maxIn)
		if cur <= m || atomic.CompareAndSwapInt32(&f.maxIn, m, cur) {
			break
		}
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
		}
	}
	res := &fleet.CallResult{}
	for _, n := range r.Targets {
		f.mu.Lock()
		if f.perNode == nil {
			f.perNode = map[string]int{}
		}
		f.perNode[r.Action+"@"+n]++
		attempt := f.perNode[r.Action+"@"+n]
		f.calls = append(f.calls, r.Action+"@"+n)
		f.mu.Unlock()
		st, changed := fleet.StatusOK, true
		if f.behave != nil {
			st, changed = f.behave(n, r.Action, attempt)
		}
		if st == "" {
			res.Missing = append(res.Missing, n)
			continue
		}
		rep := &fleet.Reply{Identity: n, Status: st, Changed: changed}
		if st != fleet.StatusOK {
			rep.Message = "boom"
		}
		res.Replies = append(res.Replies, rep)
		if r.OnReply != nil {
			r.OnReply(rep)
		}
	}
	return res, nil
}

func (f *fakeFleet) CallAnyOne(ctx context.Context, r fleet.CallRequest) (*fleet.CallResult, error) {
	res := &fleet.CallResult{}
	for _, n := range r.Targets {
		one := r
		one.Targets = []string{n}
		got, _ := f.Call(ctx, one)
		res.Replies = append(res.Replies, got.Replies...)
		res.Missing = append(res.Missing, got.Missing...)
		if len(got.Replies) == 1 && got.Replies[0].OK() {
			break
		}
	}
	return res, nil
}

// reg has one type, t, calling a.<action arg>.
func reg() resources.Registry {
	return resources.Registry{"t": &resources.Type{Name: "t", Agent: "a", Request: func(args map[string]any) (resources.Request, error) {
		return resources.Request{Agent: "a", Action: args["action"].(string)}, nil
	}}}
}

// res builds a resource instance calling a.<name> on targets.
func res(name string, targets []string, deps ...string) *catalog.Resource {
	return &catalog.Resource{
		Addr: "t." + name, Type: "t", DependsOn: deps, HasTargets: true,
		Late: &late{
			targets: func(catalog.Resolved) ([]string, error) { return targets, nil },
			args:    func(catalog.Resolved) (map[string]any, error) { return map[string]any{"action": name}, nil },
		},
	}
}

// late is a catalog.Late made of functions.
type late struct {
	targets func(catalog.Resolved) ([]string, error)
	args    func(catalog.Resolved) (map[string]any, error)
	expect  func(*fleet.Reply) error
}

func (l *late) Targets(r catalog.Resolved) ([]string, error)    { return l.targets(r) }
func (l *late) Args(r catalog.Resolved) (map[string]any, error) { return l.args(r) }
func (l *late) HasExpect() bool                                 { return l.expect != nil }
func (l *late) Expect(rep *fleet.Reply) error {
	if l.expect == nil {
		return nil
	}
	return l.expect(rep)
}

func run(t *testing.T, f *fakeFleet, o engine.Options, rs ...*catalog.Resource) *engine.Report {
	t.Helper()
	rep, err := engine.Run(context.Background(), &catalog.Catalog{NodeSets: map[string]*catalog.NodeSet{}, Resources: rs}, reg(), f, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func outcomes(rep *engine.Report) string {
	var parts []string
	for _, r := range rep.Resources {
		parts = append(parts, r.Addr+"="+string(r.Outcome))
	}
	return strings.Join(parts, " ")
}

func TestOrderingAndSkips(t *testing.T) {
	fail := func(node, action string, _ int) (fleet.Status, bool) {
		if action == "b" && node == "n2" {
			return fleet.StatusAborted, false
		}
		return fleet.StatusOK, true
	}
	tests := []struct {
		name    string
		behave  func(string, string, int) (fleet.Status, bool)
		mk      func() []*catalog.Resource
		want    string
		outcome engine.Outcome
		reason  string
	}{
		{"chain", nil, func() []*catalog.Resource {
			return []*catalog.Resource{res("a", []string{"n1"}), res("b", []string{"n1"}, "t.a"), res("c", []string{"n1"}, "t.b")}
		}, "t.a=ok t.b=ok t.c=ok", engine.OutcomeOK, ""},
		{"failure skips dependents, not independents", fail, func() []*catalog.Resource {
			return []*catalog.Resource{res("a", []string{"n1"}), res("b", []string{"n1", "n2"}, "t.a"), res("c", []string{"n1"}, "t.b"), res("d", []string{"n1"}, "t.c"), res("e", []string{"n2"})}
		}, "t.a=ok t.b=failed t.c=skipped t.d=skipped t.e=ok", engine.OutcomeFailed, "skipped: t.b failed"},
		{"fail_ok lets dependents run", fail, func() []*catalog.Resource {
			b := res("b", []string{"n1", "n2"})
			b.FailOK = true
			return []*catalog.Resource{b, res("c", []string{"n1"}, "t.b")}
		}, "t.b=failed t.c=ok", engine.OutcomeOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFleet{nodes: []string{"n1", "n2"}, behave: tt.behave}
			rep := run(t, f, engine.Options{}, tt.mk()...)
			if got := outcomes(rep); got != tt.want {
				t.Fatalf("outcomes %s, want %s", got, tt.want)
			}
			if rep.Outcome != tt.outcome {
				t.Errorf("run outcome %s, want %s", rep.Outcome, tt.outcome)
			}
			if tt.reason != "" && !strings.Contains(fmt.Sprint(rep.Resources[2].Reason), tt.reason) {
				t.Errorf("reason %q, want %q", rep.Resources[2].Reason, tt.reason)
			}
		})
	}
	// Order: a before b before c.
	f := &fakeFleet{nodes: []string{"n1"}}
	run(t, f, engine.Options{}, res("a", []string{"n1"}), res("b", []string{"n1"}, "t.a"), res("c", []string{"n1"}, "t.b"))
	if strings.Join(f.calls, " ") != "a@n1 b@n1 c@n1" {
		t.Errorf("call order %v", f.calls)
	}
}

func TestParallelismLimit(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1"}, delay: 20 * time.Millisecond}
	var rs []*catalog.Resource
	for i := range 8 {
		rs = append(rs, res(fmt.Sprintf("r%d", i), []string{"n1"}))
	}
	rep := run(t, f, engine.Options{Parallelism: 3}, rs...)
	if rep.Outcome != engine.OutcomeOK {
		t.Fatal(outcomes(rep))
	}
	if f.maxIn != 3 {
		t.Errorf("at most %d calls in flight, want 3", f.maxIn)
	}
}

func TestRetryOnlyFailingNodes(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1", "n2"}, behave: func(node, _ string, attempt int) (fleet.Status, bool) {
		if node == "n2" && attempt < 3 {
			return fleet.StatusAborted, false
		}
		return fleet.StatusOK, false
	}}
	r := res("load", []string{"n1", "n2"})
	r.Retry = catalog.Retry{Attempts: 5, Interval: time.Millisecond}
	var retries int
	rep := run(t, f, engine.Options{Events: func(e engine.Event) {
		if e.Type == engine.EventResourceRetry {
			retries++
		}
	}}, r)
	if rep.Outcome != engine.OutcomeOK || rep.Resources[0].Attempts != 3 || retries != 2 {
		t.Fatalf("outcome %s attempts %d retries %d", rep.Outcome, rep.Resources[0].Attempts, retries)
	}
	if f.perNode["load@n1"] != 1 || f.perNode["load@n2"] != 3 {
		t.Errorf("calls per node %v: only the failing node is retried", f.perNode)
	}
	if rep.Unchanged != 2 || rep.Changed != 0 {
		t.Errorf("unchanged %d changed %d", rep.Unchanged, rep.Changed)
	}
	// Attempts exhausted: failed, with the node named.
	f2 := &fakeFleet{nodes: []string{"n1"}, behave: func(string, string, int) (fleet.Status, bool) { return fleet.StatusAborted, false }}
	r2 := res("load", []string{"n1"})
	r2.Retry = catalog.Retry{Attempts: 2, Interval: time.Millisecond}
	rep = run(t, f2, engine.Options{}, r2)
	if rep.Outcome != engine.OutcomeFailed || f2.perNode["load@n1"] != 2 || !strings.Contains(rep.Resources[0].Reason, "n1 (boom)") {
		t.Fatalf("outcome %s calls %v reason %q", rep.Outcome, f2.perNode, rep.Resources[0].Reason)
	}
}

func TestAnyOneAndNoAnswer(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1", "n2", "n3"}, behave: func(node, _ string, _ int) (fleet.Status, bool) {
		switch node {
		case "n1":
			return "", false // silent
		case "n2":
			return fleet.StatusAborted, false
		}
		return fleet.StatusOK, true
	}}
	notify := res("notify", []string{"n1", "n2", "n3"})
	notify.AnyOne = true
	rep := run(t, f, engine.Options{}, notify)
	if rep.Outcome != engine.OutcomeOK || rep.Changed != 1 {
		t.Fatalf("any-one: %s changed %d", outcomes(rep), rep.Changed)
	}
	rep = run(t, f, engine.Options{}, res("all", []string{"n1", "n3"}))
	if rep.Outcome != engine.OutcomeFailed || rep.NoAnswer != 1 || !strings.Contains(rep.Resources[0].Reason, "n1 (no answer)") {
		t.Fatalf("no answer: %s %+v", outcomes(rep), rep.Resources[0])
	}
}

func TestNodeSetsMinMax(t *testing.T) {
	f := &fakeFleet{nodes: []string{"a1", "a2", "b1"}}
	cat := &catalog.Catalog{NodeSets: map[string]*catalog.NodeSet{
		"nodes.a": {Addr: "nodes.a", Filter: fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "a"}}}, Min: 3},
		"nodes.b": {Addr: "nodes.b", Filter: fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "b"}}}, Min: 1},
	}}
	mk := func(name, set string) *catalog.Resource {
		r := res(name, nil)
		r.NodeSets = []string{set}
		r.Late.(*late).targets = func(res catalog.Resolved) ([]string, error) { return res[set], nil }
		return r
	}
	cat.Resources = []*catalog.Resource{mk("x", "nodes.a"), mk("y", "nodes.b"), mk("z", "nodes.b")}
	discovered := 0
	rep, err := engine.Run(context.Background(), cat, reg(), f, engine.Options{Events: func(e engine.Event) {
		if e.Type == engine.EventNodeSet {
			discovered++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(rep); got != "t.x=failed t.y=ok t.z=ok" {
		t.Fatalf("outcomes %s", got)
	}
	if r := rep.Resources[0].Reason; !strings.Contains(r, "fact cluster==a") || !strings.Contains(r, "found 2 node(s), fewer than min = 3") {
		t.Errorf("reason %q", r)
	}
	if discovered != 2 {
		t.Errorf("node sets discovered %d times, want once each (2)", discovered)
	}
}

func TestCancellation(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1"}, delay: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 1)
	rep, err := engine.Run(ctx, &catalog.Catalog{Resources: []*catalog.Resource{res("a", []string{"n1"}), res("b", []string{"n1"}, "t.a")}}, reg(), f,
		engine.Options{Events: func(e engine.Event) {
			if e.Type == engine.EventResourceStart {
				select {
				case started <- struct{}{}:
					cancel()
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Cancelled || rep.Outcome != engine.OutcomeFailed {
		t.Fatalf("cancelled %v outcome %s", rep.Cancelled, rep.Outcome)
	}
	if rep.Resources[1].Outcome != engine.OutcomeSkipped || !strings.Contains(rep.Resources[1].Reason, "skipped") {
		t.Errorf("b: %+v", rep.Resources[1])
	}
	// The in-flight call finished and was reported.
	if len(rep.Resources[0].Nodes) != 1 {
		t.Errorf("a reported %d nodes", len(rep.Resources[0].Nodes))
	}
}

func TestFailFast(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1"}, behave: func(_, action string, _ int) (fleet.Status, bool) {
		if action == "a" {
			return fleet.StatusAborted, false
		}
		return fleet.StatusOK, true
	}}
	rep := run(t, f, engine.Options{FailFast: true, Parallelism: 1}, res("a", []string{"n1"}), res("b", []string{"n1"}))
	if got := outcomes(rep); got != "t.a=failed t.b=skipped" {
		t.Fatalf("outcomes %s", got)
	}
}

// BenchmarkEngineOverhead walks catalogs of 1,000 and 10,000 resources of
// instant no-op actions on one node, each depending on an earlier one: the
// engine's own cost per resource (scheduling, events, report).
func BenchmarkEngineOverhead(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			f := &fakeFleet{nodes: []string{"n1"}}
			var rs []*catalog.Resource
			for i := range n {
				var deps []string
				if i > 0 {
					deps = []string{fmt.Sprintf("t.r%d", i/2)}
				}
				rs = append(rs, res(fmt.Sprintf("r%d", i), []string{"n1"}, deps...))
			}
			cat := &catalog.Catalog{Resources: rs}
			for b.Loop() {
				rep, err := engine.Run(context.Background(), cat, reg(), f, engine.Options{})
				if err != nil || rep.Outcome != engine.OutcomeOK {
					b.Fatal(err, outcomes(rep))
				}
			}
		})
	}
}

// A skip names the dependency that stopped it and, further down the
// chain, the failure at its root.
func TestSkipNamesRootCause(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1"}, behave: func(_, action string, _ int) (fleet.Status, bool) {
		if action == "a" {
			return fleet.StatusAborted, false
		}
		return fleet.StatusOK, false
	}}
	rep := run(t, f, engine.Options{}, res("a", []string{"n1"}), res("b", []string{"n1"}, "t.a"), res("c", []string{"n1"}, "t.b"))
	want := map[string]string{"t.b": "skipped: t.a failed", "t.c": "skipped: t.b was skipped (t.a failed)"}
	for _, rr := range rep.Resources {
		if w, ok := want[rr.Addr]; ok && rr.Reason != w {
			t.Errorf("%s: reason %q, want %q", rr.Addr, rr.Reason, w)
		}
	}
}

// A panic while applying a resource (a bug) fails that resource as an
// internal error; independent resources still run and the report says so.
func TestPanicFailsResourceAsInternalError(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1"}}
	bad := res("bad", []string{"n1"})
	bad.Late.(*late).args = func(catalog.Resolved) (map[string]any, error) { panic("nil map") }
	rep := run(t, f, engine.Options{}, bad, res("after", []string{"n1"}, "t.bad"), res("other", []string{"n1"}))
	if got := outcomes(rep); got != "t.bad=failed t.after=skipped t.other=ok" {
		t.Fatalf("outcomes %s", got)
	}
	if !rep.InternalError || !strings.Contains(rep.Resources[0].Reason, "internal error") {
		t.Errorf("internal error %v, reason %q", rep.InternalError, rep.Resources[0].Reason)
	}
}

// A node set that discovers nothing fails (no silent no-op) unless the
// playbook allowed it (min = 0).
func TestEmptyNodeSet(t *testing.T) {
	for _, allow := range []bool{false, true} {
		f := &fakeFleet{nodes: []string{"a1"}}
		cat := &catalog.Catalog{NodeSets: map[string]*catalog.NodeSet{
			"nodes.b": {Addr: "nodes.b", Filter: fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "b"}}}, AllowEmpty: allow}}}
		r := res("x", nil)
		r.NodeSets = []string{"nodes.b"}
		r.Late.(*late).targets = func(res catalog.Resolved) ([]string, error) { return res["nodes.b"], nil }
		cat.Resources = []*catalog.Resource{r}
		rep, err := engine.Run(context.Background(), cat, reg(), f, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := rep.Resources[0]
		switch {
		case !allow && (got.Outcome != engine.OutcomeFailed || !strings.Contains(got.Reason, "found no node") || !strings.Contains(got.Reason, "min = 0")):
			t.Errorf("empty node set: %s %q, want a failure saying min = 0", got.Outcome, got.Reason)
		case allow && got.Outcome != engine.OutcomeOK:
			t.Errorf("allowed empty node set: %s %q", got.Outcome, got.Reason)
		}
	}
}

// A plan counts only the changes apply would make: what a noop resource
// would change is not one of them.
func TestPlanCountsOnlyRealChanges(t *testing.T) {
	f := &fakeFleet{nodes: []string{"n1", "n2"}}
	probe := res("probe", []string{"n1", "n2"})
	probe.NoOp = true
	rep := run(t, f, engine.Options{NoOp: true}, probe, res("deploy", []string{"n1"}, "t.probe"))
	if rep.Changed != 1 || rep.Unchanged != 2 {
		t.Errorf("plan: %d would change, %d unchanged; want 1 (deploy) and 2 (the noop probe)", rep.Changed, rep.Unchanged)
	}
}

// Within a resource's max_failed, what depends on it runs; the run fails.
func TestResourceMaxFailed(t *testing.T) {
	for _, tc := range []struct {
		budget catalog.Size
		next   string
	}{{catalog.Size{Count: 1}, "ok"}, {catalog.Size{}, "skipped"}, {catalog.Size{Percent: 50}, "ok"}} {
		f := &fakeFleet{nodes: []string{"n1", "n2"}, behave: failOn("a", "n2")}
		a := res("a", []string{"n1", "n2"})
		a.MaxFailed = tc.budget
		rep := run(t, f, engine.Options{}, a, res("b", []string{"n1"}, "t.a"))
		if got := outcomes(rep); got != "t.a=failed t.b="+tc.next || rep.Outcome != engine.OutcomeFailed {
			t.Errorf("budget %+v: %s, run %s", tc.budget, got, rep.Outcome)
		}
	}
}

// missingFleet is a fakeFleet whose discovery also reports nodes that
// left the registry without stopping (engine.MissingFinder).
type missingFleet struct {
	*fakeFleet
	gone []fleet.MissingNode
}

func (f *missingFleet) DiscoverWithMissing(ctx context.Context, flt fleet.Filter) ([]string, []fleet.MissingNode, error) {
	ids, err := f.Discover(ctx, flt)
	return ids, f.gone, err
}

// A node set targets the nodes that left the registry without stopping
// with the live ones, sorted and once each, and its event says which.
func TestNodeSetTargetsMissingNodes(t *testing.T) {
	since := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f := &missingFleet{fakeFleet: &fakeFleet{nodes: []string{"a1", "a3"}}, gone: []fleet.MissingNode{
		{NodeInfo: fleet.NodeInfo{Identity: "a2"}, LastSeen: since},
		{NodeInfo: fleet.NodeInfo{Identity: "a3"}, LastSeen: since}, // registered again meanwhile
	}}
	cat := &catalog.Catalog{NodeSets: map[string]*catalog.NodeSet{"nodes.a": {Addr: "nodes.a"}}}
	r := res("x", nil)
	r.NodeSets = []string{"nodes.a"}
	r.Late.(*late).targets = func(res catalog.Resolved) ([]string, error) { return res["nodes.a"], nil }
	cat.Resources = []*catalog.Resource{r}
	var ev engine.Event
	rep, err := engine.Run(context.Background(), cat, reg(), f, engine.Options{Events: func(e engine.Event) {
		if e.Type == engine.EventNodeSet {
			ev = e
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rep.NodeSets["nodes.a"], ","); got != "a1,a2,a3" {
		t.Fatalf("node set %s", got)
	}
	if got := strings.Join(ev.Missing, ","); got != "a2 (missing since 2026-11-25T09:00:00Z)" {
		t.Fatalf("missing %q", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perNode["x@a2"] != 1 || f.perNode["x@a3"] != 1 {
		t.Fatalf("calls %v: want a2 and a3 once each", f.calls)
	}
}
