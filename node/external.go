package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers/external"
	"github.com/orch-fleet/orch/rpc"
)

// externalAgents are the node's external agents (providers/external, the
// agents_dir setting), loaded at start and again on SIGHUP.
type externalAgents struct {
	dir  string
	opts external.Options
	log  *slog.Logger

	mu  sync.RWMutex
	set *external.Set
	srv *rpc.Server // nil until the node serves
}

// checkAgents makes agents_dir absolute and checks agents_timeout.
func (c *Config) checkAgents() hcl.Diagnostics {
	if c.AgentsDir != "" && !filepath.IsAbs(c.AgentsDir) {
		c.AgentsDir = filepath.Join(filepath.Dir(c.path), c.AgentsDir)
	}
	if _, err := parseDuration(c.AgentsTimeout, external.DefaultTimeout); err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid agents_timeout", Detail: err.Error()}}
	}
	return nil
}

// newExternalAgents loads the external agents of cfg; the names of the
// providers in specs, and discovery, are reserved.
func newExternalAgents(ctx context.Context, cfg *Config, o Options, log *slog.Logger) *externalAgents {
	dir := cfg.AgentsDir
	if dir == "" {
		dir = external.DefaultDir
	}
	timeout, _ := parseDuration(cfg.AgentsTimeout, external.DefaultTimeout) // checked by ParseConfig
	reserved := []string{rpc.DiscoveryAgent}
	for _, s := range o.Specs {
		reserved = append(reserved, s.Name)
	}
	e := &externalAgents{dir: dir, log: log, opts: external.Options{Node: cfg.Identity, Timeout: timeout, Reserved: reserved}}
	e.load(ctx)
	return e
}

// load reads the agents directory again, logs each agent it refuses and,
// once the node serves, serves the agents it found instead of the old ones.
func (e *externalAgents) load(ctx context.Context) {
	set, refused := external.Load(ctx, e.dir, e.opts)
	for _, r := range refused {
		e.log.Error("external agent refused", "agent", r.Name, "dir", e.dir, "err", r.Err)
	}
	e.mu.Lock()
	e.set = set
	srv := e.srv
	e.mu.Unlock()
	e.log.Info("external agents loaded", "dir", e.dir, "agents", len(set.Agents()), "refused", len(refused))
	if srv != nil {
		e.setExtra(ctx, srv, set)
	}
}

// serve starts serving the loaded agents on srv, and those of every later
// load.
func (e *externalAgents) serve(ctx context.Context, srv *rpc.Server) {
	e.mu.Lock()
	e.srv = srv
	set := e.set
	e.mu.Unlock()
	e.setExtra(ctx, srv, set)
}

func (e *externalAgents) setExtra(ctx context.Context, srv *rpc.Server, set *external.Set) {
	handlers := map[string]rpc.Handler{}
	for name, a := range set.Agents() {
		handlers[name] = a
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.SetExtra(ctx, handlers); err != nil {
		e.log.Error("serving external agents", "err", err)
	}
}

// agents returns the current agents; nil-safe.
func (e *externalAgents) agents() map[string]*external.Agent {
	if e == nil {
		return nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.set.Agents()
}

// describe adds the external agents, with their schemas, to info.
func (e *externalAgents) describe(info *fleet.NodeInfo) {
	agents := e.agents()
	if len(agents) == 0 {
		return
	}
	if info.Agents == nil {
		info.Agents = map[string]string{}
	}
	info.Schemas = make(map[string]json.RawMessage, len(agents))
	for name, a := range agents {
		info.Agents[name] = a.Schema().Version
		info.Schemas[name] = a.SchemaJSON()
	}
}

// schemas returns the external agents' schemas.
func (e *externalAgents) schemas() []*ddl.Agent {
	var out []*ddl.Agent
	for _, a := range e.agents() {
		out = append(out, a.Schema())
	}
	return out
}
