package views

import (
	"github.com/orch-fleet/orch/history"
)

// Graph is the layout of a run's resource graph for the HTML views: a
// column per depth (dependencies to the left), a box per resource.
type Graph struct {
	Width, Height int
	Boxes         []GraphBox
	Edges         []GraphEdge
}

// GraphBox is a resource's box.
type GraphBox struct {
	X, Y    int
	Addr    string
	Label   string // Addr, shortened to fit
	Outcome string
}

// GraphEdge is a line from a dependency's box to its dependent's.
type GraphEdge struct{ X1, Y1, X2, Y2 int }

// The size of a box and the gaps between boxes, in SVG units.
const (
	boxW, boxH = 220, 28
	gapX, gapY = 50, 14
	labelRunes = 30
)

// NewGraph lays out the steps of a run, each box coloured by its row's
// outcome in the timeline ("pending" when it has none yet).
func NewGraph(steps []history.Step, tl *Timeline) *Graph {
	outcome := map[string]string{}
	for _, r := range tl.Rows {
		outcome[r.Addr] = r.Outcome
	}
	depth := map[string]int{}
	var depthOf func(addr string, seen int) int
	byAddr := map[string]history.Step{}
	for _, s := range steps {
		byAddr[s.Addr] = s
	}
	depthOf = func(addr string, seen int) int {
		if d, ok := depth[addr]; ok || seen > len(steps) {
			return d
		}
		d := 0
		for _, dep := range byAddr[addr].DependsOn {
			d = max(d, depthOf(dep, seen+1)+1)
		}
		depth[addr] = d
		return d
	}
	g := &Graph{}
	perCol := map[int]int{}
	pos := map[string][2]int{}
	for _, s := range steps {
		d := depthOf(s.Addr, 0)
		x, y := 10+d*(boxW+gapX), 10+perCol[d]*(boxH+gapY)
		perCol[d]++
		pos[s.Addr] = [2]int{x, y}
		label := s.Addr
		if r := []rune(label); len(r) > labelRunes {
			label = "…" + string(r[len(r)-labelRunes+1:])
		}
		o := outcome[s.Addr]
		if o == "" {
			o = "pending"
		}
		g.Boxes = append(g.Boxes, GraphBox{X: x, Y: y, Addr: s.Addr, Label: label, Outcome: o})
		g.Width, g.Height = max(g.Width, x+boxW+10), max(g.Height, y+boxH+10)
	}
	for _, s := range steps {
		for _, dep := range s.DependsOn {
			from, ok := pos[dep]
			if !ok {
				continue
			}
			to := pos[s.Addr]
			g.Edges = append(g.Edges, GraphEdge{X1: from[0] + boxW, Y1: from[1] + boxH/2, X2: to[0], Y2: to[1] + boxH/2})
		}
	}
	return g
}
