package views

import (
	"fmt"
	"sort"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleetops"
)

// Discover is the view of orch discover: the nodes a filter selects.
type Discover interface {
	Nodes(nodes []fleet.NodeInfo) error
}

// NewDiscover returns the view of orch discover: the nodes' JSON, or their
// identities on stdout and their count on stderr.
func NewDiscover(vt ViewType, v *View) Discover {
	if vt == JSON {
		return discoverJSON{v}
	}
	return discoverHuman{v}
}

type discoverJSON struct{ v *View }

func (j discoverJSON) Nodes(nodes []fleet.NodeInfo) error { return j.v.JSON(nodes) }

type discoverHuman struct{ v *View }

func (h discoverHuman) Nodes(nodes []fleet.NodeInfo) error {
	for _, n := range nodes {
		fmt.Fprintln(h.v.stdout, n.Identity)
	}
	fmt.Fprintf(h.v.stderr, "\n%d node(s)\n", len(nodes))
	return nil
}

// Vanished prints, on stderr, a line per node that the filter selects but
// that left the registry without stopping gracefully.
func (v *View) Vanished(vs []fleetops.Vanished) { writeVanished(v.stderr, vs) }

// Facts is the view of orch facts: how many nodes have each value of a
// fact.
type Facts interface {
	// Counts renders counts (value -> identities) of fact over nodes.
	Counts(fact string, counts map[string][]string, nodes int) error
}

// NewFacts returns the view of orch facts.
func NewFacts(vt ViewType, v *View) Facts {
	if vt == JSON {
		return factsJSON{v}
	}
	return factsHuman{v}
}

type factsJSON struct{ v *View }

func (j factsJSON) Counts(fact string, counts map[string][]string, _ int) error {
	return j.v.JSON(map[string]any{"fact": fact, "values": counts})
}

type factsHuman struct{ v *View }

func (h factsHuman) Counts(fact string, counts map[string][]string, nodes int) error {
	values := make([]string, 0, len(counts))
	for v := range counts {
		values = append(values, v)
	}
	sort.Strings(values)
	fmt.Fprintf(h.v.stdout, "Report for fact: %s\n\n", fact)
	for _, v := range values {
		fmt.Fprintf(h.v.stdout, "  %-30s found %d times\n", v, len(counts[v]))
	}
	fmt.Fprintf(h.v.stdout, "\n%d node(s)\n", nodes)
	return nil
}

var (
	_ Discover = discoverJSON{}
	_ Discover = discoverHuman{}
	_ Facts    = factsJSON{}
	_ Facts    = factsHuman{}
)
