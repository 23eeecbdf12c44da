package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/node/sysfacts"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/rpc"
)

// DefaultShutdownTimeout is how long a stopping node waits for in-flight
// requests; deregistering and flushing replies take up to DeregisterTimeout
// more. A service manager's stop timeout must exceed their sum (the
// packaged orch-agent.service allows 45 s).
const (
	DefaultShutdownTimeout = 30 * time.Second
	DeregisterTimeout      = 3 * time.Second
)

// Options are what the daemon takes besides its config.
type Options struct {
	Version string // orch version, reported in inventory and the registry
	Logger  *slog.Logger
	// Specs are the providers the config may enable; nil = builtin.Specs().
	Specs []providers.Spec
	// ShutdownTimeout bounds the wait for in-flight requests; 0 =
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Metrics observes requests and registry heartbeats (metrics.go);
	// nil = none.
	Metrics Metrics
}

// Node is a running node daemon.
type Node struct {
	o        Options
	log      *slog.Logger
	key      nkeys.KeyPair
	pub      string
	started  time.Time
	instance string // random id of this agent process (fleet.NodeInfo.Instance)

	cfg *Config // as started; what Reload cannot change is read here

	mu    sync.RWMutex
	cur   *Config // the config last loaded (replaced by Reload)
	facts map[string]any
	audit *auditLog        // replaced (reopened) by Reload
	sys   *sysfacts.Source // system facts (systemfacts.go)

	auth     atomic.Pointer[authorizer] // trust list and policy, replaced by Reload
	handlers map[string]rpc.Handler
	ext      *externalAgents // agents_dir (external.go)
	nc       *nats.Conn
	srv      *rpc.Server
	reg      *rpc.Registrar
}

// New prepares a node from its config: reads its key and facts and builds
// its providers. Provider config errors come back as diagnostics.
func New(cfg *Config, o Options) (*Node, hcl.Diagnostics) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Specs == nil {
		o.Specs = builtin.Specs()
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	n := &Node{cfg: cfg, cur: cfg, o: o, log: o.Logger.With("node", cfg.Identity), started: time.Now().UTC(), handlers: map[string]rpc.Handler{},
		instance: rpc.NewRequestID()}
	n.auth.Store(newAuthorizer(cfg))
	var diags hcl.Diagnostics
	fail := func(summary string, err error) (*Node, hcl.Diagnostics) {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: err.Error()})
	}
	var err error
	if n.key, err = loadOrCreateKey(cfg); err != nil {
		return fail("Cannot load the node key", err)
	}
	if n.pub, err = n.key.PublicKey(); err != nil {
		return fail("Cannot read the node key", err)
	}
	if n.facts, err = cfg.Facts(); err != nil {
		return fail("Cannot read facts", err)
	}
	n.sys = newSystemFacts(cfg, n.log) // system facts (systemfacts.go)
	// external agents (external.go)
	n.ext = newExternalAgents(context.Background(), cfg, o, n.log)
	if cfg.AuditLog != "" {
		if n.audit, err = openAuditLog(cfg.AuditLog); err != nil {
			return fail("Cannot open the audit log", err)
		}
	}
	specs := map[string]providers.Spec{}
	for _, s := range o.Specs {
		specs[s.Name] = s
	}
	blocks := cfg.Providers
	if !hasProvider(blocks, "rpcutil") {
		blocks = append(blocks, ProviderBlock{Name: "rpcutil"})
	}
	for _, b := range blocks {
		spec, ok := specs[b.Name]
		if !ok {
			var names []string
			for name := range specs {
				names = append(names, name)
			}
			sort.Strings(names)
			r := b.Range
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown provider",
				Detail: fmt.Sprintf("There is no provider %q; this orch has: %v.", b.Name, names), Subject: &r})
			continue
		}
		if _, dup := n.handlers[b.Name]; dup {
			r := b.Range
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate provider", Detail: fmt.Sprintf("provider %q is configured twice.", b.Name), Subject: &r})
			continue
		}
		env := providers.Env{
			Identity: cfg.Identity, Collective: cfg.Collective,
			DataDir: filepath.Join(dataDir(cfg), b.Name), Info: n.Info, Schemas: n.schemas, Conn: n.conn,
			Logger: n.log.With("provider", b.Name),
		}
		h, d := spec.New(b.Body, env)
		diags = append(diags, d...)
		if h != nil && !d.HasErrors() {
			n.handlers[b.Name] = h
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return n, diags
}

// conn returns the broker connection once Run has made it.
func (n *Node) conn() *nats.Conn {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nc
}

func hasProvider(blocks []ProviderBlock, name string) bool {
	for _, b := range blocks {
		if b.Name == name {
			return true
		}
	}
	return false
}

func dataDir(cfg *Config) string {
	if cfg.DataDir != "" {
		return cfg.DataDir
	}
	return filepath.Join(os.TempDir(), "orch-"+cfg.Identity)
}

// loadOrCreateKey reads the node's seed, or creates one in the data dir.
func loadOrCreateKey(cfg *Config) (nkeys.KeyPair, error) {
	if cfg.KeyFile != "" {
		return rpc.LoadKey(cfg.KeyFile)
	}
	path := filepath.Join(dataDir(cfg), "node.nk")
	if _, err := os.Stat(path); err == nil {
		return rpc.LoadKey(path)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("creating node key: %w", err)
	}
	seed, _ := kp.Seed()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("writing node key: %w", err)
	}
	return kp, nil
}

// Info returns what the node tells about itself.
func (n *Node) Info() fleet.NodeInfo {
	n.mu.RLock()
	facts, classes := n.facts, n.cur.Classes
	n.mu.RUnlock()
	agents := make(map[string]string, len(n.handlers))
	for name, h := range n.handlers {
		agents[name] = h.Schema().Version
	}
	info := fleet.NodeInfo{
		Identity: n.cfg.Identity, Collective: n.cfg.Collective, PublicKey: n.pub,
		Facts: facts, Classes: classes, Agents: agents, Version: n.o.Version, Started: n.started,
		Instance: n.instance,
	}
	n.ext.describe(&info) // external agents (external.go)
	return info
}

func (n *Node) schemas() []*ddl.Agent {
	out := make([]*ddl.Agent, 0, len(n.handlers))
	for _, h := range n.handlers {
		out = append(out, h.Schema())
	}
	return append(out, n.ext.schemas()...) // external agents (external.go)
}

// ReloadFacts merges the config's facts over the system facts again (they
// changed) and re-registers.
func (n *Node) ReloadFacts(ctx context.Context) error {
	n.mu.RLock()
	cfg := n.cur
	n.mu.RUnlock()
	facts, err := cfg.Facts()
	if err != nil {
		return err
	}
	facts = n.withSystemFacts(facts) // system facts (systemfacts.go)
	n.mu.Lock()
	n.facts = facts
	n.mu.Unlock()
	n.register(ctx)
	return nil
}

// registerRetry is how soon a failed heartbeat is tried again (or the
// interval, when shorter): a broker failing over must not cost a node
// its registration, which expires after a few missed heartbeats.
const registerRetry = time.Second

// register writes the node's registry entry, when the registry is
// enabled, and logs a failure; a registration taken by another agent is
// logged as an error.
func (n *Node) register(ctx context.Context) {
	if err := n.tryRegister(ctx); err != nil {
		n.log.Warn("registering", "err", err)
	}
}

// tryRegister writes the node's registry entry, when the registry is
// enabled, each attempt bounded by the interval; it returns why the entry
// was not written. A registration taken by another agent is logged as an
// error (the entry is written again).
func (n *Node) tryRegister(ctx context.Context) error {
	if !n.registryEnabled() || n.reg == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(n.cfg.interval, registerRetry))
	defer cancel()
	err := n.heartbeat(n.reg.Register(ctx, n.Info())) // metrics.go
	if errors.Is(err, rpc.ErrRegistrationTaken) {
		n.log.Error("duplicate identity: another agent registered under this node's identity", "err", err)
		return nil
	}
	return err
}

func (n *Node) registryEnabled() bool { return n.cfg.Registry == nil || *n.cfg.Registry }

// Run connects, serves and registers until ctx is done; a value on reload
// re-reads the config (Reload). It refuses to start when another live
// agent serves the same identity. On return in-flight requests have
// finished (or the shutdown timeout passed) and the node's own
// registration is removed.
func (n *Node) Run(ctx context.Context, reload <-chan struct{}) error {
	opts, err := n.connOptions()
	if err != nil {
		return err
	}
	nc, err := n.connect(ctx, opts)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := rpc.IdentityInUse(ctx, nc, n.cfg.Collective, n.cfg.Identity); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	guard, err := rpc.OpenFileReplayGuard(filepath.Join(dataDir(n.cfg), "replay.guard"), 0)
	if err != nil {
		return err
	}
	defer guard.Close()
	n.mu.Lock()
	n.nc, n.reg = nc, rpc.NewRegistrar(nc, n.cfg.Collective, n.cfg.ttl)
	n.mu.Unlock()
	srv, err := rpc.NewServer(nc, rpc.ServerOptions{
		Identity: n.cfg.Identity, Collective: n.cfg.Collective, Info: n.Info, Handlers: n.handlers, Key: n.key,
		Trusted:   func(key string) bool { return n.auth.Load().trusted(key) },
		Authorize: func(req *rpc.Request) error { return n.auth.Load().authorize(req) },
		Replay:    guard, NotBefore: time.Now(), Audit: n.writeAudit, Logger: n.log,
		Metrics: n.o.Metrics, // metrics.go
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	n.srv = srv
	n.ext.serve(ctx, srv)                          // external agents (external.go)
	sysChanged, stopSys := n.startSystemFacts(ctx) // system facts (systemfacts.go)
	defer stopSys()
	n.log.Info("serving", "agents", len(n.handlers), "servers", n.cfg.RedactedServers(), "instance", n.instance)
	return n.serve(ctx, reload, sysChanged)
}

// serve registers and re-registers until ctx is done, reloading on a
// value of reload. A failed heartbeat is retried every registerRetry
// until one succeeds.
func (n *Node) serve(ctx context.Context, reload, sysChanged <-chan struct{}) error {
	var tick, retry <-chan time.Time
	var hb heartbeats
	heartbeat := func() {
		retry = nil
		if err := n.tryRegister(ctx); err != nil {
			hb.failed(n, err)
			retry = time.After(min(registerRetry, n.cfg.interval))
		} else {
			hb.ok(n)
		}
	}
	if n.registryEnabled() {
		heartbeat()
		t := time.NewTicker(n.cfg.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return n.shutdown()
		case <-reload:
			n.Reload(ctx)
		case <-sysChanged: // system facts (systemfacts.go)
			if err := n.ReloadFacts(ctx); err != nil {
				n.log.Error("reloading facts", "err", err)
			}
		case <-tick:
			heartbeat()
		case <-retry:
			heartbeat()
		}
	}
}

// heartbeats tracks the heartbeats failing in a row.
type heartbeats struct {
	count int       // failed in a row: the first is a warning, the rest debug
	since time.Time // when the streak (or the last forced reconnect) began
}

// failed records a failed heartbeat. When they have failed for half the
// registry TTL through a broker of a cluster, the node reconnects to
// another one: the registry must take a heartbeat before the entry
// expires, and a broker whose JetStream does not answer (still rejoining
// after a restart) is not worth waiting on while others would.
func (h *heartbeats) failed(n *Node, err error) {
	if h.count == 0 {
		h.since = time.Now()
		n.log.Warn("registering (retrying every second until it works)", "err", err)
	} else {
		n.log.Debug("registering", "err", err, "failed_attempts", h.count)
	}
	h.count++
	if time.Since(h.since) >= n.cfg.ttl/2 && n.nc != nil && len(n.nc.Servers()) > 1 {
		n.log.Warn("the registry has not taken a heartbeat for half its TTL; reconnecting to another broker",
			"broker", n.nc.ConnectedUrlRedacted(), "failed_for", time.Since(h.since).Round(time.Second).String(), "err", err)
		h.since = time.Now()
		if rerr := n.nc.ForceReconnect(); rerr != nil {
			n.log.Warn("reconnecting", "err", rerr)
		}
	}
}

// ok records a heartbeat that worked.
func (h *heartbeats) ok(n *Node) {
	if h.count > 0 {
		n.log.Info("registered again", "failed_attempts", h.count)
	}
	h.count = 0
}

// connOptions are the node's NATS options: logging, re-registration on
// reconnect, broker credentials.
func (n *Node) connOptions() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { n.log.Warn("disconnected from broker", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.log.Info("reconnected to broker", "url", nc.ConnectedUrlRedacted())
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n.register(rctx)
		}),
	}
	sec, err := n.cfg.Security().Options()
	if err != nil {
		return nil, err
	}
	return append(opts, sec...), nil
}

// connect connects to the brokers, retrying until ctx is done: a node
// started before its broker waits for it.
func (n *Node) connect(ctx context.Context, opts []nats.Option) (*nats.Conn, error) {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		nc, err := rpc.Connect(ctx, n.cfg.Servers, "orch-agent "+n.cfg.Identity, opts...)
		if err == nil {
			return nc, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if attempt == 1 || attempt%20 == 0 {
			n.log.Warn("waiting for a broker", "err", err, "attempt", attempt)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to the broker: %w", ctx.Err())
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// shutdown stops taking requests, waits for in-flight ones and deregisters.
func (n *Node) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), n.o.ShutdownTimeout)
	defer cancel()
	err := n.srv.Shutdown(ctx)
	if n.nc.IsConnected() {
		// Without a broker there is nobody to tell; the registry entry then
		// expires by itself.
		dctx, dcancel := context.WithTimeout(context.Background(), DeregisterTimeout)
		defer dcancel()
		if n.registryEnabled() {
			if derr := n.reg.Deregister(dctx, n.cfg.Identity, n.instance); derr != nil {
				n.log.Warn("deregistering", "err", derr)
			}
		}
		if ferr := n.nc.FlushWithContext(dctx); ferr != nil {
			n.log.Warn("flushing replies", "err", ferr)
		}
	}
	n.mu.Lock()
	if n.audit != nil {
		n.audit.close()
	}
	n.mu.Unlock()
	n.log.Info("stopped")
	return err
}

func (n *Node) writeAudit(e rpc.AuditEntry) {
	lvl := slog.LevelInfo
	if e.Status != fleet.StatusOK {
		lvl = slog.LevelWarn
	}
	n.log.Log(context.Background(), lvl, "request", "caller", e.CallerName, "agent", e.Agent, "action", e.Action, "status", e.Status, "message", e.Message, "reason", e.Reason)
	n.mu.RLock()
	a := n.audit
	n.mu.RUnlock()
	if a != nil {
		a.write(e)
	}
}

// auditLog appends JSON lines to a file.
type auditLog struct {
	mu sync.Mutex
	f  *os.File
}

func openAuditLog(path string) (*auditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &auditLog{f: f}, nil
}

func (a *auditLog) write(e rpc.AuditEntry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.f.Write(append(b, '\n'))
}

func (a *auditLog) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.f.Close()
}
