package views

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/resources"
)

// The commands on a playbook that need no fleet (validate, catalog, graph,
// fmt) have one format each, so their views are methods of View rather
// than an interface with one implementation.

// Valid renders orch validate's verdict on a playbook that compiled.
func (v *View) Valid(path string, cat *catalog.Catalog) {
	fmt.Fprintf(v.stdout, "%s: valid, %d resource instance(s), %d node set(s)\n", path, len(cat.Resources), len(cat.NodeSets))
}

// Catalog renders orch catalog: the compiled catalog as JSON.
func (v *View) Catalog(cat *catalog.Catalog) error { return v.JSON(cat) }

// Graph renders orch graph: the catalog as DOT, a box per resource
// instance labelled with its address and agent.action (from the type's
// request when the arguments are known, else the type's declared call),
// module instances as clusters, edges from dependency to dependent.
func (v *View) Graph(cat *catalog.Catalog, reg resources.Registry) {
	var b strings.Builder
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	b.WriteString("digraph catalog {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	byModule := map[string][]*catalog.Resource{}
	for _, r := range cat.Resources {
		byModule[r.Module] = append(byModule[r.Module], r)
	}
	mods := make([]string, 0, len(byModule))
	for m := range byModule {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for i, m := range mods {
		indent := "  "
		if m != "" {
			fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%s;\n    style=rounded;\n", i, q(m))
			indent = "    "
		}
		for _, r := range byModule[m] {
			fmt.Fprintf(&b, "%s%s [label=%s];\n", indent, q(r.Addr), q(r.Addr+"\n"+callOf(r, reg)))
		}
		if m != "" {
			b.WriteString("  }\n")
		}
	}
	for _, r := range cat.Resources {
		for _, d := range r.DependsOn {
			fmt.Fprintf(&b, "  %s -> %s;\n", q(d), q(r.Addr))
		}
	}
	b.WriteString("}\n")
	fmt.Fprint(v.stdout, b.String())
}

// callOf is the agent.action a resource calls, or its type when unknown.
func callOf(r *catalog.Resource, reg resources.Registry) string {
	t, ok := reg.Lookup(r.Type)
	if !ok {
		return r.Type
	}
	if req, err := t.Request(r.Static); err == nil {
		return req.Agent + "." + req.Action
	}
	if t.Agent != "" && t.Action != "" {
		return t.Agent + "." + t.Action
	}
	return r.Type
}

// Unformatted renders orch fmt's finding that file is not formatted: its
// name and, with diff, the changed lines as -old / +new.
func (v *View) Unformatted(file string, src, formatted []byte, diff bool) {
	fmt.Fprintln(v.stdout, file)
	if diff {
		fmt.Fprint(v.stdout, lineDiff(string(src), string(formatted)))
	}
}

// lineDiff is a minimal line diff: changed lines as -old / +new.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "-%s\n+%s\n", x, y)
		}
	}
	return out.String()
}
