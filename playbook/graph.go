package playbook

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"
)

// vertex is a vertex of either graph the compiler builds: a declaration or
// a resource instance.
type vertex interface {
	graph.Node
	address() string  // shown in cycle messages
	place() hcl.Range // where it is declared
}

// sortVertices orders g's vertices topologically, dependencies first, ties
// by ID. Cyclic components are returned in place of the vertices they hold
// (which are then missing from the order).
func sortVertices(g graph.Directed) ([]graph.Node, [][]graph.Node) {
	sorted, err := topo.SortStabilized(g, func(ns []graph.Node) {
		sort.Slice(ns, func(i, j int) bool { return ns[i].ID() < ns[j].ID() })
	})
	var u topo.Unorderable
	if !errors.As(err, &u) {
		return sorted, nil
	}
	var order []graph.Node
	for _, n := range sorted {
		if n != nil {
			order = append(order, n)
		}
	}
	return order, u
}

// cycleDiag names one cycle of a cyclic component as a path, with the
// place of each step; what says what the vertices are ("resources").
func cycleDiag(g graph.Directed, scc []graph.Node, what string) *hcl.Diagnostic {
	sub := simple.NewDirectedGraph()
	in := map[int64]bool{}
	for _, n := range scc {
		in[n.ID()] = true
		sub.AddNode(n)
	}
	for _, n := range scc {
		to := g.From(n.ID())
		for to.Next() {
			if in[to.Node().ID()] {
				sub.SetEdge(sub.NewEdge(n, to.Node()))
			}
		}
	}
	// Johnson's algorithm on the component only: on the whole graph the
	// number of elementary cycles can grow exponentially.
	cycle := scc
	if cycles := topo.DirectedCyclesIn(sub); len(cycles) > 0 {
		cycle = cycles[0][:len(cycles[0])-1]
	}
	var path, locs []string
	for _, n := range cycle {
		v := n.(vertex)
		path = append(path, v.address())
		locs = append(locs, fmt.Sprintf("  %s at %s", v.address(), v.place()))
	}
	path = append(path, path[0])
	first := cycle[0].(vertex)
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle",
		Detail:  fmt.Sprintf("These %s depend on each other: %s\n%s", what, strings.Join(path, " -> "), strings.Join(locs, "\n")),
		Subject: first.place().Ptr()}
}
