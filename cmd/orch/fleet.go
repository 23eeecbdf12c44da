package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orch-fleet/orch/call"
	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleetops"
	"github.com/orch-fleet/orch/internal/views"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/rpc"
)

// runPing is `orch ping`: every discovered node answers an rpcutil ping.
func runPing(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("ping", e.stderr)
	cf := addClientFlags(fs, e, true)
	if pos, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	} else if len(pos) > 0 {
		return usageErr(e, "ping", "unexpected argument %q", pos[0])
	}
	return callFleet(ctx, e, cf, "ping", "rpcutil", "ping", noInput, views.NewPing(viewType(cf.json), e.view()))
}

// runRPC is `orch rpc AGENT ACTION key=value...` and `orch rpc --describe AGENT`.
func runRPC(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("rpc", e.stderr)
	cf := addClientFlags(fs, e, true)
	describe := fs.String("describe", "", "print the schema of `AGENT` and exit")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if *describe != "" {
		s := builtin.Schema(*describe)
		if s == nil {
			var ok bool
			if s, ok = fetchSchema(ctx, e, cf, *describe); !ok {
				return exitFailed
			}
		}
		return viewErr(e, "rpc", views.NewDescribe(viewType(cf.json), e.view()).Agent(s))
	}
	if len(pos) < 2 {
		return usageErr(e, "rpc", "usage: %s", synopsis("rpc"))
	}
	agent, action := pos[0], pos[1]
	input := externalInput(agent, action, pos[2:]) // typed by the schema the nodes advertise
	if s := builtin.Schema(agent); s != nil {
		in, err := fleetops.ParseInput(s, action, pos[2:])
		if err != nil {
			return usageErr(e, "rpc", "%v", err)
		}
		input = func([]fleet.NodeInfo) (map[string]any, error) { return in, nil }
	}
	return callFleet(ctx, e, cf, "rpc", agent, action, input, views.NewRPC(viewType(cf.json), e.view()))
}

// inputFunc makes a call's input once the nodes to call are known: an
// external agent's schema comes with them (docs/agents.md). An error is a
// usage error.
type inputFunc func(nodes []fleet.NodeInfo) (map[string]any, error)

// noInput is the input of an action that takes none.
func noInput([]fleet.NodeInfo) (map[string]any, error) { return nil, nil }

// externalInput parses key=value arguments with the schema the nodes
// advertise for agent, or without one when they advertise none (or
// disagree).
func externalInput(agent, action string, args []string) inputFunc {
	return func(nodes []fleet.NodeInfo) (map[string]any, error) {
		s := fleetops.NewSchemas(nil)
		s.AddFleet(nodes)
		return fleetops.ParseInput(s.Lookup(agent), action, args)
	}
}

// fetchSchema asks a node serving agent for its schema (rpcutil agents).
func fetchSchema(ctx context.Context, e *env, cf *clientFlags, agent string) (*ddl.Agent, bool) {
	cl, closeFn, err := cf.connect(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch rpc: %v\n", err)
		return nil, false
	}
	defer closeFn()
	nodes, err := cf.discover(ctx, cl, fleet.Filter{Agents: []string{agent}})
	if err != nil || len(nodes) == 0 {
		fmt.Fprintf(e.stderr, "orch rpc: agent %q is not built in and no node serves it\n", agent)
		return nil, false
	}
	fs := fleetops.NewSchemas(nil) // external agents advertise their schemas
	if fs.AddFleet(nodes); fs.Lookup(agent) != nil {
		return fs.Lookup(agent), true
	}
	s, err := fleetops.FetchSchema(ctx, cl, fleetops.Identities(nodes), agent, cf.timeout)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch rpc: %v\n", err)
		return nil, false
	}
	return s, true
}

// callFleet discovers the nodes the filter selects, calls agent.action on
// them and renders the replies and a summary with view. Exit 0 when every
// node answered OK.
func callFleet(ctx context.Context, e *env, cf *clientFlags, cmd, agent, action string, inputOf inputFunc, view views.Call) int {
	f, err := cf.filter()
	if err != nil {
		return usageErr(e, cmd, "%v", err)
	}
	cl, closeFn, err := cf.connect(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return exitFailed
	}
	defer closeFn()
	if agent != "" {
		f.Agents = append(f.Agents, agent)
	}
	start := time.Now()
	targets, d, err := resolveTargets(ctx, cf, cl, f)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return exitFailed
	}
	if len(targets) == 0 {
		e.view().Vanished(fleetops.VanishedOf(d.Missing))
		fmt.Fprintf(e.stderr, "orch %s: no nodes matched (%s)\n", cmd, f.String())
		return exitFailed
	}
	input, err := inputOf(d.Nodes)
	if err != nil {
		return usageErr(e, cmd, "%v", err)
	}
	rtt := fleetops.StartRTT()
	res := call.Do(ctx, cl, call.Spec{
		Agent: agent, Action: action, Input: input, Targets: targets,
		Timeout: cf.timeout, BatchSize: cf.batch, BatchSleep: cf.batchSleep, NoOp: cf.noop,
		OnResult: func(nr *call.NodeResult) {
			if nr.Reply != nil {
				view.Reply(nr.Reply, rtt.Observe(nr.Identity))
			}
		},
	})
	if res.Err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, res.Err)
		return exitInvalidOrFailed(res.Err)
	}
	sum := fleetops.Summarize(agent, action, len(targets), res, rtt, time.Since(start))
	sum.Vanished = fleetops.VanishedOf(d.Missing)
	if code := viewErr(e, cmd, view.Summary(sum)); code != exitOK || sum.OK() {
		return code
	}
	return exitFailed
}

// resolveTargets discovers whom a call with filter f goes to. Exact -I
// values name nodes: discovery then looks for the identities alone, the
// other filters narrow what it found, and a named node it did not find is
// called anyway (and reported as not answering), as a playbook's targets
// list is; /regex/ values and the other filters only select.
func resolveTargets(ctx context.Context, cf *clientFlags, cl *rpc.Client, f fleet.Filter) ([]string, *rpc.Discovery, error) {
	if len(fleetops.NamedIdentities(f)) == 0 {
		d, err := cf.discoverFleet(ctx, cl, f)
		if err != nil {
			return nil, nil, err
		}
		return fleetops.Identities(d.Nodes), d, nil
	}
	d, err := cf.discoverFleet(ctx, cl, fleet.Filter{Identities: f.Identities})
	if err != nil {
		return nil, nil, err
	}
	missing := d.Missing[:0:0]
	for _, m := range d.Missing {
		if f.Match(&m.NodeInfo) {
			missing = append(missing, m)
		}
	}
	d.Missing = missing
	return fleetops.Targets(f, d.Nodes), d, nil
}

// exitInvalidOrFailed is the exit code of a call's error: invalid for a
// request the schema or the nodes rejected as such, failed otherwise.
func exitInvalidOrFailed(err error) int {
	var de *ddl.Error
	var se *fleet.StatusError
	if errors.As(err, &de) || errors.As(err, &se) {
		return exitInvalid
	}
	return exitFailed
}

// viewErr is the exit code after a view rendered: failed when it could not
// write.
func viewErr(e *env, cmd string, err error) int {
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: writing the output: %v\n", cmd, err)
		return exitFailed
	}
	return exitOK
}

// runDiscover is `orch discover`: the nodes a filter selects.
func runDiscover(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("discover", e.stderr)
	cf := addClientFlags(fs, e, true)
	if pos, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	} else if len(pos) > 0 {
		return usageErr(e, "discover", "unexpected argument %q", pos[0])
	}
	d, code := discoverFleet(ctx, e, cf, "discover")
	if d == nil {
		return code
	}
	if err := views.NewDiscover(viewType(cf.json), e.view()).Nodes(d.Nodes); err != nil {
		return viewErr(e, "discover", err)
	}
	e.view().Vanished(fleetops.VanishedOf(d.Missing))
	return exitOK
}

// discoverNodes connects and discovers; nil nodes means failure with code.
func discoverNodes(ctx context.Context, e *env, cf *clientFlags, cmd string) ([]fleet.NodeInfo, int) {
	d, code := discoverFleet(ctx, e, cf, cmd)
	if d == nil {
		return nil, code
	}
	return d.Nodes, code
}

// discoverFleet connects and discovers; nil means failure with code. With
// no node found, the nodes that went missing are named.
func discoverFleet(ctx context.Context, e *env, cf *clientFlags, cmd string) (*rpc.Discovery, int) {
	f, err := cf.filter()
	if err != nil {
		return nil, usageErr(e, cmd, "%v", err)
	}
	cl, closeFn, err := cf.connect(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return nil, exitFailed
	}
	defer closeFn()
	d, err := cf.discoverFleet(ctx, cl, f)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return nil, exitFailed
	}
	if len(d.Nodes) == 0 {
		e.view().Vanished(fleetops.VanishedOf(d.Missing))
		fmt.Fprintf(e.stderr, "orch %s: no nodes matched (%s)\n", cmd, f.String())
		return nil, exitFailed
	}
	return d, exitOK
}

// runFacts is `orch facts FACT`: how often each value occurs; a dotted
// FACT reaches a nested fact, and a map fact reports each of its leaves.
func runFacts(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("facts", e.stderr)
	cf := addClientFlags(fs, e, true)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(pos) != 1 {
		return usageErr(e, "facts", "usage: %s", synopsis("facts"))
	}
	nodes, code := discoverNodes(ctx, e, cf, "facts")
	if nodes == nil {
		return code
	}
	reports := fleetops.FactReports(nodes, pos[0])
	return viewErr(e, "facts", views.NewFacts(viewType(cf.json), e.view()).Reports(pos[0], reports, len(nodes)))
}
