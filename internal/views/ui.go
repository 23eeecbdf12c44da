package views

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/history"
)

// FleetPage is the fleet page of orch ui: the filters (as -F, -C, -A and
// -I take them) and the nodes they select.
type FleetPage struct {
	Facts, Classes, Agents, Identities []string
	Nodes                              []fleet.NodeInfo
	Error                              string
	// Now is for tests; zero = time.Now.
	Now time.Time
}

// Filter parses the page's filters; a fact field may hold several
// conditions separated by spaces.
func (p *FleetPage) Filter() (fleet.Filter, error) {
	var f fleet.Filter
	for _, s := range p.Facts {
		for _, c := range strings.Fields(s) {
			ff, err := fleet.ParseFactFilter(c)
			if err != nil {
				return f, err
			}
			f.Facts = append(f.Facts, ff)
		}
	}
	f.Classes, f.Agents, f.Identities = nonEmpty(p.Classes), nonEmpty(p.Agents), nonEmpty(p.Identities)
	return f, f.Validate()
}

func nonEmpty(ss []string) []string {
	return slices.DeleteFunc(slices.Clone(ss), func(s string) bool { return strings.TrimSpace(s) == "" })
}

// FleetRow is a node as the fleet page shows it.
type FleetRow struct {
	Identity, Facts, Classes, Agents, Version, Seen, SeenAt string
}

// Rows are the page's nodes, sorted by identity.
func (p *FleetPage) Rows() []FleetRow {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	nodes := slices.SortedFunc(slices.Values(p.Nodes), func(a, b fleet.NodeInfo) int { return strings.Compare(a.Identity, b.Identity) })
	rows := make([]FleetRow, 0, len(nodes))
	for _, n := range nodes {
		var facts []string
		for _, k := range slices.Sorted(maps.Keys(n.Facts)) {
			facts = append(facts, fmt.Sprintf("%s=%v", k, n.Facts[k]))
		}
		rows = append(rows, FleetRow{Identity: n.Identity, Facts: strings.Join(facts, " "), Classes: strings.Join(n.Classes, ", "),
			Agents: strings.Join(slices.Sorted(maps.Keys(n.Agents)), ", "), Version: n.Version,
			Seen: elapsed(now.Sub(n.Registered).Round(time.Second)) + " ago", SeenAt: n.Registered.Format(time.RFC3339)})
	}
	return rows
}

// RunsPage is the run list of orch ui.
type RunsPage struct {
	Playbook, Outcome, Since string
	Runs                     []*history.Record
	Error                    string
}

// Outcomes are the outcomes the run list filters by.
func (RunsPage) Outcomes() []string {
	return []string{string(engine.OutcomeOK), string(engine.OutcomeFailed), string(history.OutcomeRunning)}
}

// UIFleetHTML renders the fleet page.
func UIFleetHTML(w io.Writer, p *FleetPage) error {
	return htmlTemplates.ExecuteTemplate(w, "ui-fleet", p)
}

// UIRunsHTML renders the run list.
func UIRunsHTML(w io.Writer, p *RunsPage) error {
	return htmlTemplates.ExecuteTemplate(w, "ui-runs", p)
}

// UIRunHTML renders a run's page; with p.Events set it follows the run.
func UIRunHTML(w io.Writer, p *RunPage) error { return htmlTemplates.ExecuteTemplate(w, "ui-run", p) }
