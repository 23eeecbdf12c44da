package rpc

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"

	"github.com/orch-fleet/orch/fleet"
)

// Suggest says what the fleet has closest to a filter that selected no
// node — the fact names and values, classes and agents the nodes of the
// collective report — so that a typo does not pass for an empty fleet:
// `did you mean cluster=bravo?`. It makes *Fleet an engine.Suggester.
func (f *Fleet) Suggest(ctx context.Context, filter fleet.Filter) string {
	all, err := f.Client.Discover(ctx, fleet.Filter{}, f.Discovery)
	if err != nil {
		return ""
	}
	if len(all) == 0 {
		return fmt.Sprintf("no node at all answers in collective %q: are the agents running, connected to this broker and in this collective?", f.Collective())
	}
	var hints []string
	facts := factValues(all)
	for _, ff := range filter.Facts {
		if h := suggestFact(ff, facts); h != "" {
			hints = append(hints, h)
		}
	}
	classes, agents := map[string]bool{}, map[string]bool{}
	for _, n := range all {
		for _, c := range n.Classes {
			classes[c] = true
		}
		for a := range n.Agents {
			agents[a] = true
		}
	}
	hints = append(hints, suggestNames("class", filter.Classes, classes)...)
	hints = append(hints, suggestNames("agent", filter.Agents, agents)...)
	if len(hints) == 0 {
		return fmt.Sprintf("%d node(s) are in collective %q, none matching", len(all), f.Collective())
	}
	return strings.Join(hints, "; ")
}

// factValues maps each fact name the nodes report (dotted for nested
// facts) to the values seen.
func factValues(nodes []fleet.NodeInfo) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + k
			if sub, ok := v.(map[string]any); ok {
				walk(name+".", sub)
				continue
			}
			if out[name] == nil {
				out[name] = map[string]bool{}
			}
			out[name][fleet.FactString(v)] = true
		}
	}
	for _, n := range nodes {
		walk("", n.Facts)
	}
	return out
}

func suggestFact(ff fleet.FactFilter, facts map[string]map[string]bool) string {
	values, ok := facts[ff.Fact]
	if !ok {
		if name := closest(ff.Fact, facts); name != "" {
			return fmt.Sprintf("no node has a fact %q: did you mean %s?", ff.Fact, name)
		}
		return fmt.Sprintf("no node has a fact %q", ff.Fact)
	}
	if ff.Op != "==" {
		return ""
	}
	if v := closest(ff.Value, values); v != "" {
		return fmt.Sprintf("no node has %s: did you mean %s=%s?", ff.String(), ff.Fact, v)
	}
	return fmt.Sprintf("no node has %s; the values seen are: %s", ff.String(), strings.Join(sortedKeys(values), ", "))
}

func suggestNames(kind string, want []string, have map[string]bool) []string {
	var out []string
	for _, w := range want {
		if have[w] || strings.HasPrefix(w, "/") {
			continue
		}
		if c := closest(w, have); c != "" {
			out = append(out, fmt.Sprintf("no node has %s %q: did you mean %q?", kind, w, c))
		} else {
			out = append(out, fmt.Sprintf("no node has %s %q", kind, w))
		}
	}
	return out
}

// closest is the candidate nearest to s, if near enough to be a typo.
func closest[V any](s string, candidates map[string]V) string {
	best, bestDist := "", len(s)/2+2
	names := make([]string, 0, len(candidates))
	for c := range candidates {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if d := typoDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// typoDistance is the edit distance, with swapped letters (the same
// letters in another order) counting as one edit.
func typoDistance(a, b string) int {
	d := levenshtein.Distance(a, b, nil)
	if d > 1 && len(a) == len(b) && sortedRunes(a) == sortedRunes(b) {
		return 1
	}
	return d
}

func sortedRunes(s string) string {
	r := []rune(s)
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	return string(r)
}
