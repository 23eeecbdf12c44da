// Package emulator runs a fleet of virtual nodes in one process (orch
// emulate): each has its own identity, key, facts and registry entry and
// answers rpcutil and the emulated agent through the real request handling
// of rpc.Server, and all of them share a few NATS connections through one
// rpc.Mux, so that one machine can stand in for tens of thousands of nodes.
//
//	f, err := emulator.Start(ctx, conns, emulator.Options{Count: 10000,
//		Facts: []emulator.Fact{{Name: "cluster", Values: []string{"alfa", "bravo"}}}})
//	defer f.Stop(context.Background())
package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/emulated"
	"github.com/orch-fleet/orch/providers/rpcutil"
	"github.com/orch-fleet/orch/rpc"
)

// Fact is a fact of the template: node i gets Values[i % len(Values)].
type Fact struct {
	Name   string
	Values []string
}

// ParseFact parses NAME=V1,V2,... (a --facts flag).
func ParseFact(s string) (Fact, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok || name == "" || vals == "" {
		return Fact{}, fmt.Errorf("fact template %q: want NAME=VALUE[,VALUE...]", s)
	}
	return Fact{Name: name, Values: strings.Split(vals, ",")}, nil
}

// Options configure an emulated fleet.
type Options struct {
	Count      int    // how many nodes
	Prefix     string // identities are Prefix + a zero-padded index; "" = "emu"
	Collective string // "" = rpc.DefaultCollective
	Facts      []Fact
	Classes    []string
	Work       emulated.Config // how the emulated agent's actions behave
	// Latency delays each request to each node by Latency plus a random
	// 0–LatencyJitter before it is handled (an emulated network and busy
	// nodes).
	Latency, LatencyJitter time.Duration
	// Trust lists the client public keys the nodes accept; empty: any
	// correctly signed request.
	Trust []string
	// RegistryTTL is the registry entries' lifetime; nodes heartbeat at a
	// third of it. 0 = rpc.DefaultRegistryTTL; negative: no registry.
	RegistryTTL time.Duration
	// Workers bounds concurrent registry writes; 0 = 64.
	Workers int
	Version string
	Logger  *slog.Logger
}

// Fleet is a running emulated fleet.
type Fleet struct {
	o     Options
	mux   *rpc.Mux
	nodes []*vnode
	reg   *rpc.Registrar
}

// vnode is one emulated node.
type vnode struct {
	info fleet.NodeInfo
	key  nkeys.KeyPair
}

// Start builds Count nodes, serves them over conns and registers them.
func Start(ctx context.Context, conns []*nats.Conn, o Options) (*Fleet, error) {
	if o.Count <= 0 {
		return nil, errors.New("emulator: count must be positive")
	}
	if o.Prefix == "" {
		o.Prefix = "emu"
	}
	if o.Collective == "" {
		o.Collective = rpc.DefaultCollective
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var delay func() time.Duration
	if o.Latency > 0 || o.LatencyJitter > 0 {
		delay = func() time.Duration {
			if o.LatencyJitter <= 0 {
				return o.Latency
			}
			return o.Latency + rand.N(o.LatencyJitter)
		}
	}
	workers := 0 // the Mux's default: enough for work that does not wait
	if o.Work.Delay > 0 || o.Work.Jitter > 0 {
		workers = 4096 // emulated work holds a worker while it waits
	}
	mux, err := rpc.NewMux(o.Collective, conns, workers, delay)
	if err != nil {
		return nil, err
	}
	f := &Fleet{o: o, mux: mux}
	if err := f.build(); err != nil {
		return nil, err
	}
	if err := mux.Start(ctx); err != nil {
		return nil, err
	}
	if o.RegistryTTL >= 0 {
		f.reg = rpc.NewRegistrar(conns[0], o.Collective, o.RegistryTTL)
		if err := f.each(ctx, f.reg.Register); err != nil {
			return nil, errors.Join(err, mux.Shutdown(ctx))
		}
	}
	return f, nil
}

// build makes every node and its rpc.Server. Nodes with the same facts
// share one facts map (read only), and every node shares the schemas and
// the emulated agent's action table.
func (f *Fleet) build() error {
	o := f.o
	shared := emulated.NewShared(o.Work)
	schemas := []*ddl.Agent{emulated.Schema(), rpcutil.Schema()}
	agents := map[string]string{}
	for _, s := range schemas {
		agents[s.Name] = s.Version
	}
	facts := map[string]map[string]any{}
	auth := authorizer(o.Trust)
	width := len(fmt.Sprint(o.Count - 1))
	started := time.Now().UTC()
	f.nodes = make([]*vnode, o.Count)
	for i := range o.Count {
		key, err := nkeys.CreateUser()
		if err != nil {
			return fmt.Errorf("emulator: creating a node key: %w", err)
		}
		pub, _ := key.PublicKey()
		id := fmt.Sprintf("%s%0*d", o.Prefix, width, i)
		n := &vnode{key: key, info: fleet.NodeInfo{
			Identity: id, Collective: o.Collective, PublicKey: pub, Facts: factsOf(facts, o.Facts, i),
			Classes: o.Classes, Agents: agents, Version: o.Version, Started: started,
		}}
		f.nodes[i] = n
		info := func() fleet.NodeInfo { return n.info }
		util, diags := rpcutil.New(nil, providers.Env{Identity: id, Collective: o.Collective, Info: info,
			Schemas: func() []*ddl.Agent { return schemas }})
		if diags.HasErrors() {
			return fmt.Errorf("emulator: %s", diags.Error())
		}
		srv, err := rpc.NewServer(nil, rpc.ServerOptions{Identity: id, Collective: o.Collective, Info: info, Key: key,
			Handlers: map[string]rpc.Handler{"rpcutil": util, "emulated": shared.Handler()}, Authorize: auth,
			Concurrency: 4, Logger: o.Logger.With("node", id)})
		if err != nil {
			return err
		}
		if err := f.mux.Add(srv); err != nil {
			return err
		}
	}
	return nil
}

// factsOf is node i's facts by the template, one map per combination.
func factsOf(cache map[string]map[string]any, tmpl []Fact, i int) map[string]any {
	var k strings.Builder
	for _, t := range tmpl {
		k.WriteString(t.Values[i%len(t.Values)])
		k.WriteByte(0)
	}
	if m, ok := cache[k.String()]; ok {
		return m
	}
	m := make(map[string]any, len(tmpl))
	for _, t := range tmpl {
		m[t.Name] = t.Values[i%len(t.Values)]
	}
	cache[k.String()] = m
	return m
}

// authorizer accepts the trusted keys; no keys: every signed request.
func authorizer(trust []string) func(*rpc.Request) error {
	if len(trust) == 0 {
		return nil
	}
	ok := map[string]bool{}
	for _, k := range trust {
		ok[k] = true
	}
	return func(r *rpc.Request) error {
		if !ok[r.SenderKey] {
			return fleet.Errorf(fleet.StatusUnauthorised, "caller key %s is not trusted by this node", r.SenderKey)
		}
		return nil
	}
}

// Identities returns the nodes' identities, in order.
func (f *Fleet) Identities() []string {
	ids := make([]string, len(f.nodes))
	for i, n := range f.nodes {
		ids[i] = n.info.Identity
	}
	return ids
}

// Run heartbeats the registry entries until ctx is done; it does not stop
// the fleet (Stop does).
func (f *Fleet) Run(ctx context.Context) error {
	if f.reg == nil {
		<-ctx.Done()
		return nil
	}
	ttl := f.o.RegistryTTL
	if ttl == 0 {
		ttl = rpc.DefaultRegistryTTL
	}
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := f.each(ctx, f.reg.Register); err != nil && ctx.Err() == nil {
				f.o.Logger.Warn("re-registering emulated nodes", "err", err)
			}
		}
	}
}

// Stop stops serving, waits for requests in flight until ctx is done and
// deregisters every node.
func (f *Fleet) Stop(ctx context.Context) error {
	err := f.mux.Shutdown(ctx)
	if f.reg != nil {
		err = errors.Join(err, f.each(ctx, func(ctx context.Context, info fleet.NodeInfo) error {
			return f.reg.Deregister(ctx, info.Identity, info.Instance)
		}))
	}
	return err
}

// each runs fn for every node with Workers at a time; it returns the
// first error, after every node was tried.
func (f *Fleet) each(ctx context.Context, fn func(context.Context, fleet.NodeInfo) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	work := make(chan *vnode)
	for range f.o.Workers {
		wg.Go(func() {
			for n := range work {
				if err := fn(ctx, n.info); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for _, n := range f.nodes {
		work <- n
	}
	close(work)
	wg.Wait()
	return first
}
