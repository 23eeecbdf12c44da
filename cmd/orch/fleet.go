package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
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
	return callFleet(ctx, e, cf, "ping", "rpcutil", "ping", nil)
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
		if cf.json {
			return writeJSON(e, s)
		}
		describeAgent(e, s)
		return exitOK
	}
	if len(pos) < 2 {
		return usageErr(e, "rpc", "usage: %s", synopsis("rpc"))
	}
	agent, action := pos[0], pos[1]
	var input map[string]any
	if s := builtin.Schema(agent); s != nil {
		a, ok := s.Action(action)
		if !ok {
			return usageErr(e, "rpc", "agent %s has no action %q (it has: %s)", agent, action, strings.Join(s.ActionNames(), ", "))
		}
		if input, err = a.ParseArgs(pos[2:]); err != nil {
			return usageErr(e, "rpc", "%v", err)
		}
		if _, err := a.Validate(input); err != nil {
			return usageErr(e, "rpc", "%v", err)
		}
	} else {
		input = map[string]any{}
		for _, kv := range pos[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usageErr(e, "rpc", "argument %q: want key=value", kv)
			}
			var j any
			if json.Unmarshal([]byte(v), &j) == nil {
				input[k] = j
			} else {
				input[k] = v
			}
		}
	}
	return callFleet(ctx, e, cf, "rpc", agent, action, input)
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
	res, err := cl.CallAnyOne(ctx, rpc.CallRequest{Agent: "rpcutil", Action: "agents", Targets: identities(nodes), Timeout: cf.timeout})
	if err != nil {
		fmt.Fprintf(e.stderr, "orch rpc: %v\n", err)
		return nil, false
	}
	for _, r := range res.Replies {
		var d struct{ Agents []*ddl.Agent }
		if r.OK() && json.Unmarshal(r.Data, &d) == nil {
			for _, a := range d.Agents {
				if a.Name == agent {
					return a, true
				}
			}
		}
	}
	fmt.Fprintf(e.stderr, "orch rpc: no node returned the schema of %q\n", agent)
	return nil, false
}

// describeAgent prints an agent's schema.
func describeAgent(e *env, s *ddl.Agent) {
	w := e.stdout
	fmt.Fprintf(w, "Agent %s %s\n", s.Name, s.Version)
	if s.Description != "" {
		fmt.Fprintf(w, "  %s\n", s.Description)
	}
	for _, a := range s.Actions {
		mut := "read-only"
		if a.Mutates {
			mut = "changes the node; supports no-op"
		}
		fmt.Fprintf(w, "\nAction %s (%s)\n", a.Name, mut)
		if a.Description != "" {
			fmt.Fprintf(w, "  %s\n", a.Description)
		}
		if len(a.Inputs) > 0 {
			fmt.Fprintln(w, "  Inputs:")
		}
		for _, in := range a.Inputs {
			var notes []string
			if in.Required {
				notes = append(notes, "required")
			}
			if in.Default != nil {
				notes = append(notes, fmt.Sprintf("default %v", in.Default))
			}
			if in.Pattern != "" {
				notes = append(notes, "pattern "+in.Pattern)
			}
			if len(in.Enum) > 0 {
				notes = append(notes, fmt.Sprintf("one of %v", in.Enum))
			}
			if in.Min != nil {
				notes = append(notes, fmt.Sprintf("min %v", *in.Min))
			}
			if in.Max != nil {
				notes = append(notes, fmt.Sprintf("max %v", *in.Max))
			}
			if in.MaxLength > 0 {
				notes = append(notes, fmt.Sprintf("max length %d", in.MaxLength))
			}
			fmt.Fprintf(w, "    %-14s %-8s %s", in.Name, in.Type, in.Description)
			if len(notes) > 0 {
				fmt.Fprintf(w, " [%s]", strings.Join(notes, ", "))
			}
			fmt.Fprintln(w)
		}
		if len(a.Outputs) > 0 {
			fmt.Fprintln(w, "  Outputs:")
		}
		for _, o := range a.Outputs {
			fmt.Fprintf(w, "    %-14s %-8s %s\n", o.Name, o.Type, o.Description)
		}
	}
}

// nodeResult is one node's line in fleet command output.
type nodeResult struct {
	Identity string          `json:"identity"`
	Status   fleet.Status    `json:"status"`
	Message  string          `json:"message,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Changed  bool            `json:"changed,omitempty"`
	RTT      time.Duration   `json:"rtt_ns"`
}

// callSummary is the JSON output of ping and rpc.
type callSummary struct {
	Agent      string        `json:"agent"`
	Action     string        `json:"action"`
	Discovered int           `json:"discovered"`
	Replies    []nodeResult  `json:"replies"`
	Missing    []string      `json:"missing"`
	Failed     []string      `json:"failed"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// callFleet discovers the nodes the filter selects, calls agent.action on
// them and prints the replies and a summary. Exit 0 when every node
// answered OK.
func callFleet(ctx context.Context, e *env, cf *clientFlags, cmd, agent, action string, input map[string]any) int {
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
	nodes, err := cf.discover(ctx, cl, f)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return exitFailed
	}
	if len(nodes) == 0 {
		fmt.Fprintf(e.stderr, "orch %s: no nodes matched (%s)\n", cmd, f.String())
		return exitFailed
	}
	var mu sync.Mutex
	rtt := map[string]time.Duration{}
	sent := time.Now()
	res, err := cl.Call(ctx, rpc.CallRequest{
		Agent: agent, Action: action, Input: input, Targets: identities(nodes),
		Timeout: cf.timeout, BatchSize: cf.batch, BatchSleep: cf.batchSleep, NoOp: cf.noop,
		OnReply: func(r *fleet.Reply) {
			mu.Lock()
			rtt[r.Identity] = time.Since(sent)
			mu.Unlock()
			if !cf.json && cmd == "ping" {
				status := fmt.Sprintf("time=%.2f ms", float64(time.Since(sent).Microseconds())/1000)
				if !r.OK() {
					status = fmt.Sprintf("%s: %s", r.Status, r.Message)
				}
				fmt.Fprintf(e.stdout, "%-40s %s\n", r.Identity, status)
			}
		},
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return exitInvalidOrFailed(err)
	}
	sum := callSummary{Agent: agent, Action: action, Discovered: len(nodes), Missing: res.Missing, Elapsed: time.Since(start)}
	for _, r := range res.Replies {
		sum.Replies = append(sum.Replies, nodeResult{Identity: r.Identity, Status: r.Status, Message: r.Message, Data: r.Data, Changed: r.Changed, RTT: rtt[r.Identity]})
		if !r.OK() {
			sum.Failed = append(sum.Failed, r.Identity)
		}
	}
	sort.Slice(sum.Replies, func(i, j int) bool { return sum.Replies[i].Identity < sum.Replies[j].Identity })
	sort.Strings(sum.Failed)
	if sum.Missing == nil {
		sum.Missing = []string{}
	}
	if sum.Failed == nil {
		sum.Failed = []string{}
	}
	code := exitOK
	if len(sum.Missing) > 0 || len(sum.Failed) > 0 {
		code = exitFailed
	}
	if cf.json {
		writeJSON(e, sum)
		return code
	}
	if cmd != "ping" {
		for _, r := range sum.Replies {
			fmt.Fprintf(e.stdout, "%-30s %s", r.Identity, r.Status)
			if r.Changed {
				fmt.Fprint(e.stdout, " (changed)")
			}
			if r.Message != "" {
				fmt.Fprintf(e.stdout, ": %s", r.Message)
			}
			fmt.Fprintln(e.stdout)
			if len(r.Data) > 0 && string(r.Data) != "null" {
				fmt.Fprintf(e.stdout, "    %s\n", r.Data)
			}
		}
	}
	printSummary(e, cmd, sum)
	return code
}

func exitInvalidOrFailed(err error) int {
	var de *ddl.Error
	var se *fleet.StatusError
	if asErr(err, &de) || asErr(err, &se) {
		return exitInvalid
	}
	return exitFailed
}

// printSummary prints the mco-style summary block.
func printSummary(e *env, cmd string, s callSummary) {
	w := e.stdout
	var lo, hi, total time.Duration
	n := 0
	for _, r := range s.Replies {
		if r.RTT == 0 {
			continue
		}
		if n == 0 || r.RTT < lo {
			lo = r.RTT
		}
		if r.RTT > hi {
			hi = r.RTT
		}
		total += r.RTT
		n++
	}
	fmt.Fprintf(w, "\n---- %s.%s summary ----\n", s.Agent, s.Action)
	ok := len(s.Replies) - len(s.Failed)
	fmt.Fprintf(w, "%d/%d nodes answered OK", ok, s.Discovered)
	if n > 0 {
		fmt.Fprintf(w, ", min/avg/max %.2f/%.2f/%.2f ms", ms(lo), ms(total/time.Duration(n)), ms(hi))
	}
	fmt.Fprintf(w, ", %s in all\n", s.Elapsed.Round(time.Millisecond))
	if len(s.Failed) > 0 {
		fmt.Fprintf(w, "failed: %s\n", strings.Join(s.Failed, ", "))
	}
	if len(s.Missing) > 0 {
		fmt.Fprintf(w, "no answer: %s\n", strings.Join(s.Missing, ", "))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func writeJSON(e *env, v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(e.stderr, "orch: encoding JSON: %v\n", err)
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
	nodes, code := discoverNodes(ctx, e, cf, "discover")
	if nodes == nil {
		return code
	}
	if cf.json {
		return writeJSON(e, nodes)
	}
	for _, n := range nodes {
		fmt.Fprintln(e.stdout, n.Identity)
	}
	fmt.Fprintf(e.stderr, "\n%d node(s)\n", len(nodes))
	return exitOK
}

// discoverNodes connects and discovers; nil nodes means failure with code.
func discoverNodes(ctx context.Context, e *env, cf *clientFlags, cmd string) ([]fleet.NodeInfo, int) {
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
	nodes, err := cf.discover(ctx, cl, f)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch %s: %v\n", cmd, err)
		return nil, exitFailed
	}
	if len(nodes) == 0 {
		fmt.Fprintf(e.stderr, "orch %s: no nodes matched (%s)\n", cmd, f.String())
		return nil, exitFailed
	}
	return nodes, exitOK
}

// runFacts is `orch facts FACT`: how often each value occurs.
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
	fact := pos[0]
	nodes, code := discoverNodes(ctx, e, cf, "facts")
	if nodes == nil {
		return code
	}
	counts := map[string][]string{}
	for _, n := range nodes {
		v, ok := n.Facts[fact]
		key := fleet.FactString(v)
		if !ok {
			key = "(unset)"
		}
		counts[key] = append(counts[key], n.Identity)
	}
	if cf.json {
		return writeJSON(e, map[string]any{"fact": fact, "values": counts})
	}
	values := make([]string, 0, len(counts))
	for v := range counts {
		values = append(values, v)
	}
	sort.Strings(values)
	fmt.Fprintf(e.stdout, "Report for fact: %s\n\n", fact)
	for _, v := range values {
		fmt.Fprintf(e.stdout, "  %-30s found %d times\n", v, len(counts[v]))
	}
	fmt.Fprintf(e.stdout, "\n%d node(s)\n", len(nodes))
	return exitOK
}
