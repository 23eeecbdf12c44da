// Package broker runs an embedded NATS server with JetStream for orch: the
// message bus nodes and clients connect to. orch works just as well with
// any ordinary nats-server; this is for small fleets, tests and the demo.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures a broker.
type Config struct {
	// Name is the server name (unique within a cluster); "" = derived from Listen.
	Name string
	// Listen is the client address, host:port; default 127.0.0.1:4222. Port 0
	// or -1 picks a free port.
	Listen string
	// StoreDir holds JetStream data (the registry, locks); "" = a temp dir.
	StoreDir string
	// ConfigFile is an optional nats-server configuration file, for
	// authorization (users, nkeys, permissions) and anything else nats-server
	// supports; Listen, StoreDir and the cluster settings here override it.
	ConfigFile string
	// ClusterName, ClusterListen and Routes form a NATS cluster: each broker
	// listens for routes on ClusterListen and connects to the others' Routes
	// (nats-route://host:port).
	ClusterName   string
	ClusterListen string
	Routes        []string
	// Insecure lets the broker listen beyond loopback without
	// authentication (a lab); Start then logs a warning. Without it, a
	// broker whose client address is not a loopback one refuses to start
	// unless its configuration authenticates every client (users, nkeys,
	// an operator, or verified client certificates) with no anonymous
	// user.
	Insecure bool
	// Logf, when set, receives the server's notices, prefixed with their
	// level ("[INF] ", "[WRN] ", "[ERR] ", "[FTL] ").
	Logf func(format string, args ...any)
	// Logger, when set, receives the server's notices as log records of
	// their level (fatal ones as errors), with component=nats-server.
	Logger *slog.Logger
}

// Broker is a running embedded NATS server.
type Broker struct {
	s *server.Server
}

// Start starts the broker and waits until it accepts connections.
func Start(c Config) (*Broker, error) {
	opts := &server.Options{}
	if c.ConfigFile != "" {
		fo, err := server.ProcessConfigFile(c.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("reading broker config %s: %w", c.ConfigFile, err)
		}
		opts = fo
	}
	if c.Listen == "" && c.ConfigFile == "" {
		c.Listen = "127.0.0.1:4222"
	}
	if c.Listen != "" {
		host, port, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen address: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	opts.ServerName = c.Name
	if opts.ServerName == "" {
		opts.ServerName = "orch-broker"
	}
	opts.NoSigs = true
	opts.JetStream = true
	if c.StoreDir != "" {
		opts.StoreDir = c.StoreDir
	}
	if opts.StoreDir == "" {
		d, err := os.MkdirTemp("", "orch-broker-")
		if err != nil {
			return nil, fmt.Errorf("creating store dir: %w", err)
		}
		opts.StoreDir = d
	}
	if c.ClusterListen != "" {
		host, port, err := splitHostPort(c.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster listen address: %w", err)
		}
		opts.Cluster.Host, opts.Cluster.Port = host, port
		opts.Cluster.Name = c.ClusterName
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "orch"
		}
		if c.Name == "" {
			opts.ServerName = fmt.Sprintf("orch-broker-%s-%d", host, port)
		}
	}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("route %q: want nats-route://host:port", r)
		}
		opts.Routes = append(opts.Routes, u)
	}
	lg := &logger{logf: c.Logf, slog: c.Logger}
	if err := checkExposure(opts, c.Insecure); err != nil {
		return nil, err
	} else if c.Insecure && !isLoopback(opts.Host) && !authenticates(opts) {
		lg.Warnf("%s", InsecureWarning(opts.Host))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configuring broker: %w", err)
	}
	s.SetLoggerV2(lg, false, false, false)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		if f := lg.lastFatal(); f != "" {
			return nil, errors.New(f)
		}
		return nil, errors.New("broker did not accept connections within 10s (is the port in use?)")
	}
	if f := lg.lastFatal(); f != "" {
		s.Shutdown()
		return nil, errors.New(f)
	}
	return &Broker{s: s}, nil
}

// ClientURL is the URL clients and nodes connect to.
func (b *Broker) ClientURL() string { return b.s.ClientURL() }

// ClusterURL is the route URL other brokers list in Routes; "" without a
// cluster.
func (b *Broker) ClusterURL() string {
	addr := b.s.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats-route://" + addr.String()
}

// Server gives access to the embedded server.
func (b *Broker) Server() *server.Server { return b.s }

// Shutdown stops the broker.
func (b *Broker) Shutdown() {
	b.s.Shutdown()
	b.s.WaitForShutdown()
}

func splitHostPort(s string) (string, int, error) {
	if !strings.Contains(s, ":") {
		s = "127.0.0.1:" + s
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// logger forwards the server's notices to logf (when set) and keeps the
// last fatal message, so that Start can say why the server stopped.
type logger struct {
	logf  func(string, ...any)
	slog  *slog.Logger
	mu    sync.Mutex
	fatal string
}

func (l *logger) log(lvl slog.Level, prefix, format string, v ...any) {
	if l.logf != nil {
		l.logf(prefix+format, v...)
	}
	if l.slog != nil {
		l.slog.Log(context.Background(), lvl, fmt.Sprintf(format, v...), "component", "nats-server")
	}
}

func (l *logger) lastFatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

func (l *logger) Noticef(format string, v ...any) { l.log(slog.LevelInfo, "[INF] ", format, v...) }
func (l *logger) Warnf(format string, v ...any)   { l.log(slog.LevelWarn, "[WRN] ", format, v...) }
func (l *logger) Errorf(format string, v ...any)  { l.log(slog.LevelError, "[ERR] ", format, v...) }
func (l *logger) Debugf(format string, v ...any)  {}
func (l *logger) Tracef(format string, v ...any)  {}
func (l *logger) Fatalf(format string, v ...any) {
	l.log(slog.LevelError, "[FTL] ", format, v...)
	l.mu.Lock()
	l.fatal = "broker: " + fmt.Sprintf(format, v...)
	l.mu.Unlock()
}
