// Package dag walks a directed acyclic graph of vertices in dependency
// order, in parallel. It knows nothing of what the vertices are: the caller
// supplies what a visit does and the policy of what a failure stops.
//
// A vertex becomes ready when every vertex it depends on has succeeded (its
// count of unfinished dependencies reaches zero: no rescans), and ready
// vertices start in the order they were added, at most Parallelism at once.
// When a vertex fails or is skipped, every vertex depending on it, directly
// or not, is skipped at once, naming the dependency that stopped it and the
// failure at the root of the chain.
//
//	g := dag.New[string]()
//	g.Add("ping")
//	g.Add("deploy")
//	_ = g.DependOn("deploy", "ping")
//	w := dag.Walker[string]{Parallelism: 10,
//		Visit:   func(ctx context.Context, v string) dag.Outcome { ...; return dag.Succeeded },
//		Skipped: func(v string, why dag.Skip[string]) { log.Printf("%s skipped: %s failed", v, why.Root) }}
//	err := w.Walk(ctx, g)
package dag

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
)

// Graph is a set of vertices and their dependencies. The zero value is not
// usable; call New.
type Graph[V comparable] struct {
	ids   map[V]int
	verts []V
	deps  [][]int // deps[i]: the vertices i depends on
	down  [][]int // down[i]: the vertices depending on i
}

// New returns an empty graph.
func New[V comparable]() *Graph[V] { return &Graph[V]{ids: map[V]int{}} }

// Add adds v (once; adding it again does nothing). Vertices start in the
// order they were added when several are ready at once.
func (g *Graph[V]) Add(v V) {
	if _, ok := g.ids[v]; ok {
		return
	}
	g.ids[v] = len(g.verts)
	g.verts = append(g.verts, v)
	g.deps = append(g.deps, nil)
	g.down = append(g.down, nil)
}

// Len is the number of vertices.
func (g *Graph[V]) Len() int { return len(g.verts) }

// DependOn records that v runs only after dep succeeded. Both must have
// been added; a vertex cannot depend on itself.
func (g *Graph[V]) DependOn(v, dep V) error {
	i, ok := g.ids[v]
	if !ok {
		return fmt.Errorf("dag: %v is not in the graph", v)
	}
	j, ok := g.ids[dep]
	if !ok {
		return fmt.Errorf("dag: %v depends on %v, which is not in the graph", v, dep)
	}
	if i == j {
		return fmt.Errorf("dag: %v depends on itself", v)
	}
	g.deps[i] = append(g.deps[i], j)
	g.down[j] = append(g.down[j], i)
	return nil
}

// Outcome is the result of visiting a vertex.
type Outcome int

// Outcomes. A vertex whose visit failed but whose dependents should still
// run (a failure the caller tolerates) is reported as Succeeded.
const (
	Succeeded Outcome = iota // its dependents may run
	Failed                   // its dependents are skipped
	Skipped                  // it did not run; its dependents are skipped
)

// Skip says why a vertex did not run: a dependency that failed or was
// skipped (Cause, with Root the failure at the start of the chain), or the
// reason the Gate gave.
type Skip[V comparable] struct {
	Cause V
	Root  V
	// CauseSkipped: Cause was itself skipped (else it failed).
	CauseSkipped bool
	// Reason is the Gate's reason; "" when a dependency caused the skip.
	Reason string
}

// Walker walks a graph. Visit is required; the rest is optional.
type Walker[V comparable] struct {
	// Parallelism bounds the visits in flight; 0 means no bound.
	Parallelism int
	// Visit runs one vertex, in a goroutine of its own, and returns its
	// outcome. It must return when ctx is done.
	Visit func(ctx context.Context, v V) Outcome
	// Gate, when set, is asked just before a ready vertex starts; a
	// non-empty reason skips the vertex (and so its dependents) instead.
	// This is where a graceful stop or a fail-fast policy goes.
	Gate func(v V) (reason string)
	// Skipped is told about every vertex that does not run, in the order
	// they are skipped. Calls are serialised with each other, but not with
	// visits in flight.
	Skipped func(v V, why Skip[V])
	// Tolerant, when set, marks vertices that run once every dependency
	// finished, whatever its outcome (clean-up and failure hooks): a
	// failure or skip upstream does not skip them, and the skip cascade
	// stops there. Visit learns the dependencies' outcomes from the caller's
	// own records. The Gate still applies.
	Tolerant func(v V) bool
}

// ErrCycle is returned (wrapped, naming a vertex on a cycle) when the graph
// cannot be ordered; nothing is visited then.
var ErrCycle = errors.New("dag: dependency cycle")

type state struct {
	pending []int     // unfinished dependencies of each vertex
	done    []bool    // visited or skipped
	root    []int     // the failure at the root of a skip chain
	ready   readyHeap // ready vertices, by insertion order
}

type finished struct {
	i       int
	outcome Outcome
}

// Walk visits every vertex of g whose dependencies succeeded and skips the
// others. It returns when every vertex is finished, or ErrCycle at once.
func (w *Walker[V]) Walk(ctx context.Context, g *Graph[V]) error {
	if err := g.checkAcyclic(); err != nil {
		return err
	}
	n := len(g.verts)
	s := &state{pending: make([]int, n), done: make([]bool, n), root: make([]int, n)}
	for i := range n {
		s.pending[i] = len(g.deps[i])
		if s.pending[i] == 0 {
			heap.Push(&s.ready, i)
		}
	}
	results := make(chan finished)
	inFlight, left := 0, n
	for left > 0 {
		for s.ready.Len() > 0 && (w.Parallelism <= 0 || inFlight < w.Parallelism) {
			i := heap.Pop(&s.ready).(int)
			if s.done[i] {
				continue
			}
			if w.Gate != nil {
				if reason := w.Gate(g.verts[i]); reason != "" {
					left -= w.skip(g, s, i, Skip[V]{Reason: reason}, i)
					continue
				}
			}
			inFlight++
			go func(i int) { results <- finished{i, w.Visit(ctx, g.verts[i])} }(i)
		}
		if left == 0 {
			break
		}
		f := <-results
		inFlight--
		left -= w.finish(g, s, f)
	}
	return nil
}

// finish records a visit's outcome and returns how many vertices it
// finished (the vertex, plus those skipped because of it).
func (w *Walker[V]) finish(g *Graph[V], s *state, f finished) int {
	s.done[f.i] = true
	if f.outcome == Succeeded {
		for _, d := range g.down[f.i] {
			if s.pending[d]--; s.pending[d] == 0 && !s.done[d] {
				heap.Push(&s.ready, d)
			}
		}
		return 1
	}
	s.root[f.i] = f.i
	return 1 + w.skipDependents(g, s, f.i, f.outcome == Skipped)
}

// skip marks i skipped for why, then its dependents; it returns how many
// vertices it finished.
func (w *Walker[V]) skip(g *Graph[V], s *state, i int, why Skip[V], root int) int {
	s.done[i] = true
	s.root[i] = root
	if w.Skipped != nil {
		w.Skipped(g.verts[i], why)
	}
	return 1 + w.skipDependents(g, s, i, true)
}

// skipDependents skips every unfinished vertex that depends on i, except
// tolerant ones, which only count i as finished.
func (w *Walker[V]) skipDependents(g *Graph[V], s *state, i int, causeSkipped bool) int {
	n := 0
	for _, d := range g.down[i] {
		if s.done[d] {
			continue
		}
		if w.Tolerant != nil && w.Tolerant(g.verts[d]) {
			if s.pending[d]--; s.pending[d] == 0 {
				heap.Push(&s.ready, d)
			}
			continue
		}
		why := Skip[V]{Cause: g.verts[i], Root: g.verts[s.root[i]], CauseSkipped: causeSkipped}
		n += w.skip(g, s, d, why, s.root[i])
	}
	return n
}

// checkAcyclic orders the graph (Kahn's algorithm) and reports a vertex
// left on a cycle.
func (g *Graph[V]) checkAcyclic() error {
	pending := make([]int, len(g.verts))
	var queue []int
	for i := range g.verts {
		if pending[i] = len(g.deps[i]); pending[i] == 0 {
			queue = append(queue, i)
		}
	}
	seen := 0
	for len(queue) > 0 {
		i := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		seen++
		for _, d := range g.down[i] {
			if pending[d]--; pending[d] == 0 {
				queue = append(queue, d)
			}
		}
	}
	if seen == len(g.verts) {
		return nil
	}
	for i, p := range pending {
		if p > 0 {
			return fmt.Errorf("%w through %v", ErrCycle, g.verts[i])
		}
	}
	return ErrCycle
}

// readyHeap is a min-heap of vertex indexes.
type readyHeap []int

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *readyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
