package dag

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// build makes a graph from "v:dep1,dep2" specs.
func build(t testing.TB, specs ...string) *Graph[string] {
	t.Helper()
	g := New[string]()
	for _, s := range specs {
		v, _, _ := strings.Cut(s, ":")
		g.Add(v)
	}
	for _, s := range specs {
		v, deps, _ := strings.Cut(s, ":")
		for _, d := range strings.Split(deps, ",") {
			if d == "" {
				continue
			}
			if err := g.DependOn(v, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	return g
}

func TestWalk(t *testing.T) {
	tests := map[string]struct {
		specs  []string
		fail   string
		gate   string // vertex the gate refuses
		visits string // in order, parallelism 1
		skips  string
	}{
		"chain":            {specs: []string{"a", "b:a", "c:b"}, visits: "a b c"},
		"insertion order":  {specs: []string{"c", "a", "b"}, visits: "c a b"},
		"diamond":          {specs: []string{"a", "b:a", "c:a", "d:b,c"}, visits: "a b c d"},
		"failure skips":    {specs: []string{"a", "b:a", "c:b", "d"}, fail: "a", visits: "a d", skips: "b(a failed, root a) c(b skipped, root a)"},
		"independent runs": {specs: []string{"a", "b:a", "x", "y:x"}, fail: "b", visits: "a b x y"},
		"one of two deps":  {specs: []string{"a", "b", "c:a,b"}, fail: "b", visits: "a b", skips: "c(b failed, root b)"},
		"gate":             {specs: []string{"a", "b:a", "c"}, gate: "a", visits: "c", skips: "a(gate) b(a skipped, root a)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var visits, skips []string
			w := Walker[string]{Parallelism: 1,
				Visit: func(_ context.Context, v string) Outcome {
					visits = append(visits, v)
					if v == tc.fail {
						return Failed
					}
					return Succeeded
				},
				Gate: func(v string) string {
					if v == tc.gate {
						return "gate"
					}
					return ""
				},
				Skipped: func(v string, why Skip[string]) {
					if why.Reason != "" {
						skips = append(skips, fmt.Sprintf("%s(%s)", v, why.Reason))
						return
					}
					how := "failed"
					if why.CauseSkipped {
						how = "skipped"
					}
					skips = append(skips, fmt.Sprintf("%s(%s %s, root %s)", v, why.Cause, how, why.Root))
				}}
			if err := w.Walk(context.Background(), build(t, tc.specs...)); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(visits, " "); got != tc.visits {
				t.Errorf("visits = %q, want %q", got, tc.visits)
			}
			if got := strings.Join(skips, " "); got != tc.skips {
				t.Errorf("skips = %q, want %q", got, tc.skips)
			}
		})
	}
}

func TestParallelismCap(t *testing.T) {
	g := New[int]()
	for i := range 50 {
		g.Add(i)
	}
	var cur, peak atomic.Int32
	w := Walker[int]{Parallelism: 4, Visit: func(context.Context, int) Outcome {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		for range 1000 {
			_ = rand.Int()
		}
		cur.Add(-1)
		return Succeeded
	}}
	if err := w.Walk(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 4 || p < 1 {
		t.Errorf("peak in flight = %d, want 1..4", p)
	}
}

// TestDependentsWaitForAllDeps runs with no cap: a vertex never starts
// before every dependency finished.
func TestDependentsWaitForAllDeps(t *testing.T) {
	g := New[int]()
	const n = 300
	for i := range n {
		g.Add(i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	deps := map[int][]int{}
	for i := 1; i < n; i++ {
		for range r.IntN(4) {
			d := r.IntN(i)
			deps[i] = append(deps[i], d)
			if err := g.DependOn(i, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	finished := map[int]bool{}
	var bad []string
	w := Walker[int]{Visit: func(_ context.Context, v int) Outcome {
		mu.Lock()
		for _, d := range deps[v] {
			if !finished[d] {
				bad = append(bad, fmt.Sprintf("%d before %d", v, d))
			}
		}
		mu.Unlock()
		mu.Lock()
		finished[v] = true
		mu.Unlock()
		return Succeeded
	}}
	if err := w.Walk(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 || len(finished) != n {
		t.Errorf("%d visited of %d; out of order: %v", len(finished), n, bad)
	}
}

func TestCycleAndSelfEdge(t *testing.T) {
	g := build(t, "a:c", "b:a", "c:b", "d")
	visited := false
	w := Walker[string]{Visit: func(context.Context, string) Outcome { visited = true; return Succeeded }}
	if err := w.Walk(context.Background(), g); !errors.Is(err, ErrCycle) {
		t.Errorf("Walk on a cycle = %v, want ErrCycle", err)
	}
	if visited {
		t.Error("a graph with a cycle must not be visited at all")
	}
	if err := g.DependOn("d", "d"); err == nil {
		t.Error("DependOn(d, d) accepted a self edge")
	}
	if err := g.DependOn("d", "zz"); err == nil {
		t.Error("DependOn on an unknown vertex accepted")
	}
}

func TestSkippedOrderIsDeterministic(t *testing.T) {
	specs := []string{"a", "b:a", "c:a", "d:b", "e:c,d"}
	var first []string
	for range 20 {
		var got []string
		w := Walker[string]{Visit: func(context.Context, string) Outcome { return Failed },
			Skipped: func(v string, _ Skip[string]) { got = append(got, v) }}
		if err := w.Walk(context.Background(), build(t, specs...)); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = got
		} else if !slices.Equal(first, got) {
			t.Fatalf("skip order changed: %v then %v", first, got)
		}
	}
	if strings.Join(first, " ") != "b d e c" {
		t.Errorf("skip order = %v, want depth-first from the failure", first)
	}
}

// Tolerant vertices run after their dependencies finished, whatever the
// outcome, and stop the skip cascade; the gate still applies to them.
func TestTolerant(t *testing.T) {
	tests := map[string]struct {
		specs  []string
		fail   string
		gate   string
		visits string
		skips  string
	}{
		"after a failure":      {specs: []string{"a", "b:a", "hook:b", "c:hook"}, fail: "a", visits: "a hook c", skips: "b"},
		"after success":        {specs: []string{"a", "hook:a"}, visits: "a hook"},
		"waits for every dep":  {specs: []string{"a", "b", "hook:a,b"}, fail: "a", visits: "a b hook"},
		"gated":                {specs: []string{"a", "hook:a"}, gate: "hook", visits: "a", skips: "hook"},
		"failed hook cascades": {specs: []string{"a", "hook:a", "c:hook"}, fail: "hook", visits: "a hook", skips: "c"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var visits, skips []string
			w := Walker[string]{Parallelism: 1,
				Visit: func(_ context.Context, v string) Outcome {
					visits = append(visits, v)
					if v == tc.fail {
						return Failed
					}
					return Succeeded
				},
				Gate:     func(v string) string { return map[bool]string{true: "gate"}[v == tc.gate] },
				Skipped:  func(v string, _ Skip[string]) { skips = append(skips, v) },
				Tolerant: func(v string) bool { return v == "hook" }}
			if err := w.Walk(context.Background(), build(t, tc.specs...)); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(visits, " "); got != tc.visits {
				t.Errorf("visits = %q, want %q", got, tc.visits)
			}
			if got := strings.Join(skips, " "); got != tc.skips {
				t.Errorf("skips = %q, want %q", got, tc.skips)
			}
		})
	}
}
