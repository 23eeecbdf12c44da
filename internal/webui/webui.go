// Package webui serves orch ui: a read-only web view of the fleet (the
// registry's nodes, with -F-like filters), the run history, and a run page
// that follows a run live through server-sent events from its event
// stream. It holds no state of its own: every page reads the bus.
//
//	srv := webui.New(webui.Options{Store: st, Nodes: nodes, Token: token})
//	http.Serve(ln, srv.Handler())
package webui

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/views"
)

// Options configure a Server.
type Options struct {
	// Store is the collective's run history.
	Store *history.Store
	// Nodes returns the registry's nodes the filter selects.
	Nodes func(ctx context.Context, f fleet.Filter) ([]fleet.NodeInfo, error)
	// Token, when set, is required of every request: as ?token= once
	// (which sets a cookie) or in the cookie.
	Token string
}

// Server is the web view.
type Server struct {
	o Options
}

// New returns the web view.
func New(o Options) *Server { return &Server{o: o} }

// cookieName holds the token once a browser presented it.
const cookieName = "orch_ui_token"

// Handler returns the HTTP handler of the web view.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.fleet)
	mux.HandleFunc("GET /runs", s.runs)
	mux.HandleFunc("GET /runs/{id}", s.run)
	mux.HandleFunc("GET /runs/{id}/fragment", s.fragment)
	mux.HandleFunc("GET /runs/{id}/events", s.events)
	mux.HandleFunc("GET /runs/{id}/report.html", s.report)
	return s.auth(mux)
}

// auth checks the token when one is set.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.o.Token == "" {
		return next
	}
	ok := func(v string) bool { return subtle.ConstantTimeCompare([]byte(v), []byte(s.o.Token)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("token"); q != "" && ok(q) {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(cookieName); err == nil && ok(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "orch ui: the URL printed by orch ui (with its token) is required", http.StatusUnauthorized)
	})
}

// fail answers an error: 404 for a run not found, 400 for bad input.
func fail(w http.ResponseWriter, err error, code int) {
	if errors.Is(err, history.ErrNotFound) {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}

// fleet is the fleet page: the nodes the query's filters select.
func (s *Server) fleet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := views.FleetPage{Facts: q["F"], Classes: q["C"], Agents: q["A"], Identities: q["I"]}
	f, err := p.Filter()
	if err == nil {
		p.Nodes, err = s.o.Nodes(r.Context(), f)
	}
	if err != nil {
		p.Error = err.Error()
	}
	render(w, views.UIFleetHTML, &p)
}

// runs is the run list, filtered like orch runs list.
func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := views.RunsPage{Playbook: q.Get("playbook"), Outcome: q.Get("outcome"), Since: q.Get("since")}
	f := history.Filter{Playbook: p.Playbook, Outcome: engine.Outcome(p.Outcome), Limit: 200}
	if p.Since != "" {
		d, err := time.ParseDuration(p.Since)
		if err != nil {
			fail(w, fmt.Errorf("since: %w", err), http.StatusBadRequest)
			return
		}
		f.Since = time.Now().Add(-d)
	}
	recs, err := s.o.Store.List(r.Context(), f)
	if err != nil {
		p.Error = err.Error()
	}
	p.Runs = recs
	render(w, views.UIRunsHTML, &p)
}
