package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the endpoint serves the metrics.
const Path = "/metrics"

// CheckListen checks an endpoint address: host:port with a loopback host
// (127.0.0.0/8, ::1 or localhost) unless allowRemote. The metrics carry no
// secrets but do tell who calls which actions how often, the orch version
// and the process's state, and the endpoint has no authentication: beyond
// loopback, anyone who can reach the port can read them.
func CheckListen(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics address %q: want host:port (%v)", addr, err)
	}
	if port == "" {
		return fmt.Errorf("metrics address %q: no port", addr)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("metrics address %q is not a loopback one: the endpoint has no authentication, so anyone who reaches it can read the metrics; allow it explicitly (agent: metrics_allow_remote = true, broker: --metrics-allow-remote) and firewall the port", addr)
}

// Endpoint is a running metrics HTTP server.
type Endpoint struct {
	ln  net.Listener
	srv *http.Server
}

// Listen checks addr (CheckListen with allowRemote), listens on it and
// serves g at Path in the background until Close. Errors while serving
// go to log.
func Listen(addr string, allowRemote bool, g prometheus.Gatherer, log *slog.Logger) (*Endpoint, error) {
	if err := CheckListen(addr, allowRemote); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError,
		Timeout: 10 * time.Second,
	}))
	e := &Endpoint{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() {
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return e, nil
}

// Addr is the address the endpoint listens on (with the port picked when
// the address asked for port 0).
func (e *Endpoint) Addr() string { return e.ln.Addr().String() }

// URL is the endpoint's metrics URL.
func (e *Endpoint) URL() string { return "http://" + e.Addr() + Path }

// Close stops the endpoint, letting scrapes in progress finish until ctx
// is done.
func (e *Endpoint) Close(ctx context.Context) error { return e.srv.Shutdown(ctx) }
