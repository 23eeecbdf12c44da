package node

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Reload re-reads the config file and applies what can change while the
// agent runs: trusted clients, policy, facts (inline and file), classes,
// and the audit log (reopened, so that a rotated file is let go). Each
// change is logged. A config that fails to load keeps the running one and
// logs the error with file:line; settings that need a restart (identity,
// collective, servers, keys, data dir, providers, registry timings) are
// named and left as they are.
func (n *Node) Reload(ctx context.Context) {
	n.mu.RLock()
	old := n.cur
	n.mu.RUnlock()
	cfg, diags := LoadConfig(old.path)
	if diags.HasErrors() {
		n.log.Error("reload: the config does not load; keeping the running one", "err", diags.Error())
		return
	}
	n.ext.load(ctx) // external agents (external.go)
	n.sys.Refresh() // system facts: collected again, merged on their change
	facts, err := cfg.Facts()
	if err != nil {
		n.log.Error("reload: the facts do not load; keeping the running config", "err", err)
		return
	}
	facts = n.withSystemFacts(facts) // system facts (systemfacts.go)
	audit, err := n.reopenAudit(cfg.AuditLog)
	if err != nil {
		n.log.Error("reload: cannot open the audit log; keeping the running config", "path", cfg.AuditLog, "err", err)
		return
	}
	if restart := restartOnly(n.cfg, cfg); len(restart) > 0 {
		n.log.Warn("reload: these settings change only at a restart", "settings", strings.Join(restart, ", "))
	}
	n.mu.Lock()
	oldFacts, oldAudit := n.facts, n.audit
	n.cur, n.facts, n.audit = cfg, facts, audit
	n.mu.Unlock()
	n.auth.Store(newAuthorizer(cfg))
	if oldAudit != nil {
		oldAudit.close()
	}
	n.logChanges(old, cfg, oldFacts, facts)
	n.register(ctx)
}

// reopenAudit opens the audit log at path (nil for none).
func (n *Node) reopenAudit(path string) (*auditLog, error) {
	if path == "" {
		return nil, nil
	}
	return openAuditLog(path)
}

// logChanges logs what a reload changed.
func (n *Node) logChanges(old, cfg *Config, oldFacts, facts map[string]any) {
	added, removed := diffClients(old.Clients, cfg.Clients)
	if len(added)+len(removed) > 0 {
		n.log.Info("reload: trusted clients changed", "added", added, "removed", removed)
	}
	if !reflect.DeepEqual(old.Policy, cfg.Policy) {
		n.log.Info("reload: policy changed")
	}
	if !reflect.DeepEqual(oldFacts, facts) {
		n.log.Info("reload: facts changed", "facts", len(facts))
	}
	if !slices.Equal(old.Classes, cfg.Classes) {
		n.log.Info("reload: classes changed", "classes", cfg.Classes)
	}
	if cfg.AuditLog != "" {
		n.log.Info("reload: audit log reopened", "path", cfg.AuditLog)
	}
	n.log.Info("reloaded", "config", cfg.path)
}

// diffClients names the clients (name=key) added and removed.
func diffClients(old, cur []ClientBlock) (added, removed []string) {
	set := func(bs []ClientBlock) map[string]bool {
		m := map[string]bool{}
		for _, b := range bs {
			m[b.Name+"="+b.Key] = true
		}
		return m
	}
	o, c := set(old), set(cur)
	for k := range c {
		if !o[k] {
			added = append(added, k)
		}
	}
	for k := range o {
		if !c[k] {
			removed = append(removed, k)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// restartOnly names the settings that differ between old and cfg but
// change only at a restart.
func restartOnly(old, cfg *Config) []string {
	var out []string
	check := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	check("identity", old.Identity, cfg.Identity)
	check("collective", old.Collective, cfg.Collective)
	check("servers", old.Servers, cfg.Servers)
	check("key_file", old.KeyFile, cfg.KeyFile)
	check("data_dir", old.DataDir, cfg.DataDir)
	check("register_interval", old.interval, cfg.interval)
	check("registry_ttl", old.ttl, cfg.ttl)
	check("registry", old.Registry, cfg.Registry)
	if len(old.Providers) != len(cfg.Providers) {
		out = append(out, "provider")
	} else {
		for i := range old.Providers {
			if old.Providers[i].Name != cfg.Providers[i].Name {
				out = append(out, fmt.Sprintf("provider %q", cfg.Providers[i].Name))
			}
		}
	}
	return out
}
