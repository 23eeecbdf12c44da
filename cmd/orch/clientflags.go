package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleetops"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/rpc"
)

// clientFlags are the flags every fleet command shares.
type clientFlags struct {
	e          *env
	server     string
	key        string
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

// addClientFlags registers the shared flags on fs; defaults come from the
// environment (ORCH_SERVER, ORCH_KEY, ORCH_COLLECTIVE).
func addClientFlags(fs *flag.FlagSet, e *env, withFilter bool) *clientFlags {
	c := &clientFlags{e: e}
	def := func(name, fallback string) string {
		if v := e.getenv(name); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&c.server, "server", def("ORCH_SERVER", nats.DefaultURL), "broker `URLs`, comma-separated (env ORCH_SERVER)")
	fs.StringVar(&c.key, "key", def("ORCH_KEY", ""), "client nkey seed `file` (env ORCH_KEY)")
	fs.StringVar(&c.collective, "collective", def("ORCH_COLLECTIVE", rpc.DefaultCollective), "collective (env ORCH_COLLECTIVE)")
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
var errNoKey = errors.New("no client key: pass --key FILE or set ORCH_KEY (orch keygen --out FILE creates one; nodes must trust its public key)")

// connect opens the broker connection and the signing client.
func (c *clientFlags) connect(ctx context.Context) (*rpc.Client, func(), error) {
	if c.key == "" {
		return nil, nil, errNoKey
	}
	key, err := rpc.LoadKey(c.key)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c.grace <= 0 {
		return nil, nil, fmt.Errorf("--broker-grace must be positive, not %s", c.grace)
	}
	watch := rpc.NewBrokerWatch(c.grace)
	nc, err := rpc.Connect(cctx, strings.Split(c.server, ","), "orch "+callerName(), watch.Options()...)
	if err != nil {
		return nil, nil, err
	}
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
