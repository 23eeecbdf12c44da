// Package fleetops holds what orch's fleet commands (ping, rpc, discover,
// facts) do beyond flag parsing and rendering: parsing an action's inputs
// from key=value arguments, fetching an agent's schema from the fleet,
// timing each node's reply, summarising a call and counting fact values.
// cmd/orch wires it to the client; internal/views renders its results.
//
//	rtt := fleetops.StartRTT()
//	res := call.Do(ctx, cl, call.Spec{..., OnResult: func(nr *call.NodeResult) { rtt.Observe(nr.Identity) }})
//	sum := fleetops.Summarize("rpcutil", "ping", len(nodes), res, rtt, time.Since(start))
package fleetops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orch-fleet/orch/call"
	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// ParseInput turns key=value arguments into the input of agent.action. With
// the agent's schema (nil when the agent is not built in), values are typed
// and validated by it; without, a value that parses as JSON is that JSON,
// any other is a string.
func ParseInput(schema *ddl.Agent, action string, args []string) (map[string]any, error) {
	if schema == nil {
		return parseRaw(args)
	}
	a, ok := schema.Action(action)
	if !ok {
		return nil, fmt.Errorf("agent %s has no action %q (it has: %s)", schema.Name, action, strings.Join(schema.ActionNames(), ", "))
	}
	input, err := a.ParseArgs(args)
	if err != nil {
		return nil, err
	}
	if _, err := a.Validate(input); err != nil {
		return nil, err
	}
	return input, nil
}

// parseRaw parses key=value arguments without a schema.
func parseRaw(args []string) (map[string]any, error) {
	input := map[string]any{}
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q: want key=value", kv)
		}
		var j any
		if json.Unmarshal([]byte(v), &j) == nil {
			input[k] = j
		} else {
			input[k] = v
		}
	}
	return input, nil
}

// ErrNoSchema is returned by FetchSchema when no node returned the schema.
var ErrNoSchema = errors.New("no node returned the schema")

// FetchSchema asks one of targets (nodes serving agent) for the agent's
// schema, through rpcutil.agents.
func FetchSchema(ctx context.Context, cl *rpc.Client, targets []string, agent string, timeout time.Duration) (*ddl.Agent, error) {
	res, err := cl.CallAnyOne(ctx, fleet.CallRequest{Agent: "rpcutil", Action: "agents", Targets: targets, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	for _, r := range res.Replies {
		var d struct{ Agents []*ddl.Agent }
		if r.OK() && json.Unmarshal(r.Data, &d) == nil {
			for _, a := range d.Agents {
				if a.Name == agent {
					return a, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("%w of %q", ErrNoSchema, agent)
}

// RTT times the replies of one call from its start. Safe for concurrent
// use (replies arrive on several goroutines).
type RTT struct {
	sent time.Time
	mu   sync.Mutex
	of   map[string]time.Duration
}

// StartRTT starts timing a call: call it just before sending.
func StartRTT() *RTT { return &RTT{sent: time.Now(), of: map[string]time.Duration{}} }

// Observe records that id answered now and returns its round-trip time.
func (r *RTT) Observe(id string) time.Duration {
	d := time.Since(r.sent)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.of[id] = d
	return d
}

// Of is the round-trip time of id, 0 when it did not answer.
func (r *RTT) Of(id string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.of[id]
}

// NodeReply is one node's reply in a Summary.
type NodeReply struct {
	Identity string          `json:"identity"`
	Status   fleet.Status    `json:"status"`
	Message  string          `json:"message,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Changed  bool            `json:"changed,omitempty"`
	RTT      time.Duration   `json:"rtt_ns"`
}

// Summary is the result of calling an action on the discovered nodes (orch
// ping and orch rpc; its JSON is their -json output).
type Summary struct {
	Agent      string      `json:"agent"`
	Action     string      `json:"action"`
	Discovered int         `json:"discovered"`
	Replies    []NodeReply `json:"replies"` // sorted by identity
	Missing    []string    `json:"missing"` // did not answer, sorted
	Failed     []string    `json:"failed"`  // answered with an error, sorted
	// Vanished are nodes the filter selects that left the registry
	// without stopping gracefully (registry tombstones), sorted.
	Vanished []Vanished    `json:"vanished,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// DroppedReplies counts the replies dropped unjudged: forged,
	// unsigned, badly signed or answering as another node.
	DroppedReplies int `json:"dropped_replies"`
}

// Vanished is a node missing from the registry since its last heartbeat.
type Vanished struct {
	Identity     string    `json:"identity"`
	MissingSince time.Time `json:"missing_since"` // its last heartbeat
}

// VanishedOf lists the missing nodes of a discovery.
func VanishedOf(missing []fleet.MissingNode) []Vanished {
	var out []Vanished
	for _, m := range missing {
		out = append(out, Vanished{Identity: m.Identity, MissingSince: m.LastSeen})
	}
	return out
}

// Summarize sums up a call's result; rtt may be nil.
func Summarize(agent, action string, discovered int, res *call.Result, rtt *RTT, elapsed time.Duration) *Summary {
	s := &Summary{Agent: agent, Action: action, Discovered: discovered, Missing: []string{}, Failed: []string{}, Elapsed: elapsed,
		DroppedReplies: res.DroppedReplies}
	for _, nr := range res.Nodes {
		r := nr.Reply
		if r == nil {
			s.Missing = append(s.Missing, nr.Identity)
			continue
		}
		var d time.Duration
		if rtt != nil {
			d = rtt.Of(r.Identity)
		}
		s.Replies = append(s.Replies, NodeReply{Identity: r.Identity, Status: r.Status, Message: r.Message, Data: r.Data, Changed: r.Changed, RTT: d})
		if !r.OK() {
			s.Failed = append(s.Failed, r.Identity)
		}
	}
	sort.Slice(s.Replies, func(i, j int) bool { return s.Replies[i].Identity < s.Replies[j].Identity })
	sort.Strings(s.Failed)
	sort.Strings(s.Missing)
	return s
}

// OK reports whether every discovered node answered with success and none
// vanished.
func (s *Summary) OK() bool { return len(s.Missing) == 0 && len(s.Failed) == 0 && len(s.Vanished) == 0 }

// Unset is the value CountFacts reports for nodes without the fact.
const Unset = "(unset)"

// CountFacts groups the nodes by the value of a fact: value -> identities,
// Unset for nodes without the fact. A dotted name reaches a nested fact
// (os.family) as filters do; a value that is itself a map counts as its
// JSON (FactReports breaks it into its leaves instead).
func CountFacts(nodes []fleet.NodeInfo, fact string) map[string][]string {
	counts := map[string][]string{}
	for _, n := range nodes {
		v, ok := fleet.LookupFact(n.Facts, fact)
		key := fleet.FactString(v)
		if !ok {
			key = Unset
		}
		counts[key] = append(counts[key], n.Identity)
	}
	return counts
}

// FactReport is the counts of one fact: value -> identities.
type FactReport struct {
	Fact   string
	Values map[string][]string
}

// FactReports counts the values of fact over nodes. For a fact that is a
// map (os), there is one report per leaf below it (os.arch, os.family,
// …, in name order), each over every node; otherwise there is one report,
// of fact itself, as CountFacts makes it.
func FactReports(nodes []fleet.NodeInfo, fact string) []FactReport {
	names := map[string]bool{}
	for _, n := range nodes {
		if v, ok := fleet.LookupFact(n.Facts, fact); ok {
			leafNames(fact, v, names)
		}
	}
	if len(names) == 0 {
		names[fact] = true
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	out := make([]FactReport, len(sorted))
	for i, name := range sorted {
		out[i] = FactReport{Fact: name, Values: CountFacts(nodes, name)}
	}
	return out
}

// leafNames adds the dotted names of the leaves of v, a fact named name:
// name itself unless v is a non-empty map.
func leafNames(name string, v any, names map[string]bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		names[name] = true
		return
	}
	for k, sub := range m {
		leafNames(name+"."+k, sub, names)
	}
}

// NamedIdentities returns the exact (not /regex/) identities of f: nodes
// named on the command line, which are called whether or not discovery
// finds them.
func NamedIdentities(f fleet.Filter) []string {
	var named []string
	for _, id := range f.Identities {
		if !fleet.IsPattern(id) {
			named = append(named, id)
		}
	}
	return named
}

// Targets returns whom a call with filter f goes to, given found: the
// nodes discovered by f's identities alone. A found node is a target when
// it matches all of f; a named node (NamedIdentities) that was not found
// is a target too, so that the call reports it as not answering rather
// than leaving it out. Sorted.
func Targets(f fleet.Filter, found []fleet.NodeInfo) []string {
	seen := map[string]bool{}
	var out []string
	for i := range found {
		seen[found[i].Identity] = true
		if f.Match(&found[i]) {
			out = append(out, found[i].Identity)
		}
	}
	for _, id := range NamedIdentities(f) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Identities returns the identities of nodes, in order.
func Identities(nodes []fleet.NodeInfo) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Identity
	}
	return out
}

// CallerName is user@host, naming the caller in audit logs and run locks.
func CallerName() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
