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
	// Reports renders the reports (fleetops.FactReports) of the fact
	// asked for over nodes: one for a leaf fact, one per leaf below a map
	// fact (orch facts os: os.arch, os.family, …).
	Reports(fact string, reports []fleetops.FactReport, nodes int) error
}

// NewFacts returns the view of orch facts.
func NewFacts(vt ViewType, v *View) Facts {
	if vt == JSON {
		return factsJSON{v}
	}
	return factsHuman{v}
}

type factsJSON struct{ v *View }

// Reports writes {"fact": F, "values": {value: [identities]}} for a leaf
// fact, and {"fact": F, "facts": {leaf: {value: [identities]}}} for a map.
func (j factsJSON) Reports(fact string, reports []fleetops.FactReport, _ int) error {
	if len(reports) == 1 && reports[0].Fact == fact {
		return j.v.JSON(map[string]any{"fact": fact, "values": reports[0].Values})
	}
	leaves := make(map[string]map[string][]string, len(reports))
	for _, r := range reports {
		leaves[r.Fact] = r.Values
	}
	return j.v.JSON(map[string]any{"fact": fact, "facts": leaves})
}

type factsHuman struct{ v *View }

func (h factsHuman) Reports(_ string, reports []fleetops.FactReport, nodes int) error {
	for _, r := range reports {
		values := make([]string, 0, len(r.Values))
		for v := range r.Values {
			values = append(values, v)
		}
		sort.Strings(values)
		fmt.Fprintf(h.v.stdout, "Report for fact: %s\n\n", r.Fact)
		for _, v := range values {
			fmt.Fprintf(h.v.stdout, "  %-30s found %d times\n", v, len(r.Values[v]))
		}
		fmt.Fprintln(h.v.stdout)
	}
	fmt.Fprintf(h.v.stdout, "%d node(s)\n", nodes)
	return nil
}

var (
	_ Discover = discoverJSON{}
	_ Discover = discoverHuman{}
	_ Facts    = factsJSON{}
	_ Facts    = factsHuman{}
)
