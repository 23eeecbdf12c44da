package views

import (
	"bytes"
	"embed"
	"html/template"
	"io"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
)

//go:embed html/*.tmpl
var htmlFS embed.FS

// htmlTemplates are the HTML views (html/*.tmpl); parsed once, never
// changed.
var htmlTemplates = template.Must(template.New("").ParseFS(htmlFS, "html/*.tmpl"))

// RunPage is what the HTML views of a run show: its record, the graph of
// its resources and its timeline.
type RunPage struct {
	Rec     history.Record
	TL      *Timeline
	Graph   *Graph
	Started string
	Elapsed string
	// Events and Fragment, set by the live view, are the URLs the page
	// follows (server-sent events) and reloads its content from.
	Events, Fragment string
}

// NewRunPage builds the page of a run from its record and events.
func NewRunPage(rec history.Record, evs []engine.Event) *RunPage {
	for _, ev := range evs {
		if ev.Type == engine.EventRunEnd && rec.Outcome == history.OutcomeRunning {
			// The run ended; its record says so a moment later.
			rec.Outcome, rec.Summary, rec.Elapsed = ev.Outcome, ev.Summary, ev.Elapsed
		}
	}
	tl := NewTimeline(rec, evs)
	p := &RunPage{Rec: rec, TL: tl, Graph: NewGraph(rec.Steps, tl), Started: rec.Started.UTC().Format(time.RFC3339)}
	if rec.Elapsed > 0 {
		p.Elapsed = elapsed(rec.Elapsed)
	}
	return p
}

// ReportHTML renders a run as one self-contained HTML page (inline CSS,
// SVG and a little JavaScript; no external assets): orch apply
// --report-html and orch runs show --html.
func ReportHTML(rec history.Record, evs []engine.Event) ([]byte, error) {
	var b bytes.Buffer
	if err := htmlTemplates.ExecuteTemplate(&b, "report", NewRunPage(rec, evs)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// RunFragmentHTML renders the content of a run's page (summary, graph,
// timeline), which the live view reloads as events arrive.
func RunFragmentHTML(w io.Writer, p *RunPage) error {
	return htmlTemplates.ExecuteTemplate(w, "run", p)
}
