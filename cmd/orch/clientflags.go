package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/clientconf"
	"github.com/orch-fleet/orch/internal/fleetops"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/rpc"
)

// clientFlags are the flags every fleet command shares.
type clientFlags struct {
	e  *env
	fs *flag.FlagSet
	// conn holds the connection flags (clientconf keys) by flag name; the
	// ones set on the command line override the environment and the
	// client config file.
	conn       map[string]*string
	collective string
	facts      stringList
	classes    stringList
	agents     stringList
	identities stringList
	timeout    time.Duration
	batch      int
	batchSleep time.Duration
	json       bool
	discovery  string
	dtimeout   time.Duration
	noop       bool
	grace      time.Duration
	warnOnce   sync.Once
}

// addClientFlags registers the shared flags on fs; the connection
// settings are resolved when the command connects (see clientconf: flags
// over environment over client config file).
func addClientFlags(fs *flag.FlagSet, e *env, withFilter bool) *clientFlags {
	c := &clientFlags{e: e, fs: fs, conn: map[string]*string{}}
	for _, k := range clientconf.Keys() {
		help := k.Help + " (env " + k.Env + "; client.hcl " + k.Name
		if k.Default != "" {
			help += "; default " + k.Default
		}
		c.conn[k.Flag] = fs.String(k.Flag, "", help+")")
	}
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for replies")
	fs.StringVar(&c.discovery, "discovery", "", "discovery method: registry or broadcast (default: registry when it exists)")
	fs.DurationVar(&c.dtimeout, "discovery-timeout", 2*time.Second, "cap on discovery: reading the registry, or collecting broadcast replies")
	fs.DurationVar(&c.grace, "broker-grace", rpc.DefaultBrokerGrace, "after losing the broker, wait this long for one to come back before failing")
	if withFilter {
		for _, n := range []string{"F", "fact"} {
			fs.Var(&c.facts, n, "fact filter, e.g. cluster=bravo, cluster=/al/, cpus>=4 (repeatable)")
		}
		for _, n := range []string{"C", "class"} {
			fs.Var(&c.classes, n, "class filter, exact or /regex/ (repeatable)")
		}
		for _, n := range []string{"A", "agent"} {
			fs.Var(&c.agents, n, "agent filter (repeatable)")
		}
		for _, n := range []string{"I", "identity"} {
			fs.Var(&c.identities, n, "identity filter, exact or /regex/ (repeatable)")
		}
		fs.IntVar(&c.batch, "batch", 0, "call at most `N` nodes at a time")
		fs.DurationVar(&c.batchSleep, "batch-sleep", 0, "pause between batches")
		fs.BoolVar(&c.noop, "noop", false, "no-op mode: providers report what they would change, changing nothing")
	}
	fs.BoolVar(&c.json, "json", false, "JSON output for scripts")
	return c
}

// filter builds the discovery filter from -F/-C/-A/-I.
func (c *clientFlags) filter() (fleet.Filter, error) {
	var f fleet.Filter
	for _, s := range c.facts {
		ff, err := fleet.ParseFactFilter(s)
		if err != nil {
			return f, err
		}
		f.Facts = append(f.Facts, ff)
	}
	f.Classes, f.Agents, f.Identities = c.classes, c.agents, c.identities
	return f, f.Validate()
}

// errNoKey is a usage error: the command cannot sign without a key.
var errNoKey = errors.New("no client key: pass --key FILE, set ORCH_KEY or key in the client config file (orch keygen --out FILE creates one; nodes must trust its public key)")

// settings resolves the connection settings.
func (c *clientFlags) settings() (*clientconf.Config, error) {
	set := map[string]string{}
	c.fs.Visit(func(f *flag.Flag) {
		if v, ok := c.conn[f.Name]; ok {
			set[f.Name] = *v
		}
	})
	return clientconf.Resolve(clientconf.Sources{Getenv: c.e.getenv, Flags: set})
}

// connect opens the broker connection and the signing client.
func (c *clientFlags) connect(ctx context.Context) (*rpc.Client, func(), error) {
	cfg, err := c.settings()
	if err != nil {
		return nil, nil, err
	}
	if cfg.Get(clientconf.SigningKey) == "" {
		return nil, nil, errNoKey
	}
	key, err := rpc.LoadKey(cfg.Get(clientconf.SigningKey))
	if err != nil {
		return nil, nil, err
	}
	sec, err := cfg.Security().Options()
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c.grace <= 0 {
		return nil, nil, fmt.Errorf("--broker-grace must be positive, not %s", c.grace)
	}
	watch := rpc.NewBrokerWatch(c.grace)
	nc, err := rpc.Connect(cctx, cfg.Servers(), "orch "+callerName(), append(watch.Options(), sec...)...)
	if err != nil {
		return nil, nil, err
	}
	c.collective = cfg.Get(clientconf.Collective)
	cl := rpc.NewClient(nc, key, rpc.ClientOptions{Collective: c.collective, Name: callerName(), Broker: watch})
	cl.SetSchemas(builtin.Schema)
	return cl, nc.Close, nil
}

// discover resolves the filter to nodes.
func (c *clientFlags) discover(ctx context.Context, cl *rpc.Client, f fleet.Filter) ([]fleet.NodeInfo, error) {
	d, err := c.discoverFleet(ctx, cl, f)
	if err != nil {
		return nil, err
	}
	return d.Nodes, nil
}

// discoverFleet resolves the filter to nodes, and to the nodes that went
// missing from the registry.
func (c *clientFlags) discoverFleet(ctx context.Context, cl *rpc.Client, f fleet.Filter) (*rpc.Discovery, error) {
	return cl.DiscoverFleet(ctx, f, c.discoverOptions())
}

// discoverOptions are the discovery options of the flags; a fallback to
// broadcast is told on stderr, once per command.
func (c *clientFlags) discoverOptions() rpc.DiscoverOptions {
	return rpc.DiscoverOptions{Method: c.discovery, Timeout: c.dtimeout, Warn: func(msg string) {
		c.warnOnce.Do(func() { fmt.Fprintf(c.e.stderr, "orch: warning: %s\n", msg) })
	}}
}

// callerName is user@host, for audit logs.
func callerName() string { return fleetops.CallerName() }

// usageErr prints a usage error and returns exitInvalid.
func usageErr(e *env, cmd string, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "orch %s: %s\n", cmd, fmt.Sprintf(format, args...))
	return exitInvalid
}
