package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/views"
)

// render writes a page rendered into a buffer first, so that an error is
// an error page and not half a page.
func render[T any](w http.ResponseWriter, fn func(io.Writer, T) error, data T) {
	var b bytes.Buffer
	if err := fn(&b, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// load reads a run's record and events from the history.
func (s *Server) load(r *http.Request) (*history.Record, []engine.Event, error) {
	id := r.PathValue("id")
	rec, err := s.o.Store.Get(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	evs, err := s.o.Store.Events(r.Context(), id)
	return rec, evs, err
}

// page loads a run's page from the history.
func (s *Server) page(r *http.Request) (*views.RunPage, error) {
	rec, evs, err := s.load(r)
	if err != nil {
		return nil, err
	}
	return views.NewRunPage(*rec, evs), nil
}

// run is a run's page; while the run goes on it follows its events.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r)
	if err != nil {
		fail(w, err, http.StatusInternalServerError)
		return
	}
	if p.Rec.Outcome == history.OutcomeRunning {
		p.Events = "/runs/" + p.Rec.ID + "/events"
		p.Fragment = "/runs/" + p.Rec.ID + "/fragment"
	}
	render(w, views.UIRunHTML, p)
}

// fragment is the content of a run's page, which the page reloads as
// events arrive.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r)
	if err != nil {
		fail(w, err, http.StatusInternalServerError)
		return
	}
	render(w, views.RunFragmentHTML, p)
}

// report is a run's self-contained HTML report, as a download.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	rec, evs, err := s.load(r)
	var b []byte
	if err == nil {
		b, err = views.ReportHTML(*rec, evs)
	}
	if err != nil {
		fail(w, err, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "orch-run-"+rec.ID+".html"))
	_, _ = w.Write(b)
}

// events streams a run's events as server-sent events: every event so far,
// then each as it is recorded, then an "end" event when the run ended.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	err := s.o.Store.Follow(r.Context(), r.PathValue("id"), func(ev engine.Event) {
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	})
	if err == nil {
		fmt.Fprint(w, "event: end\ndata: {}\n\n")
		fl.Flush()
	}
}
