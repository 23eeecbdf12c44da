// Package orch is the Go SDK of orch: it gives Go programs what HCL gives
// playbooks, plus the data. Connect to the fleet, discover nodes with
// filters, call any agent action on a set of nodes (batched, any-one, with
// retries) and branch on every node's reply, status and timing; or load and
// apply a playbook with an event callback.
//
//	fleet, err := orch.Connect(ctx, orch.Options{Servers: []string{"nats://127.0.0.1:4222"}, KeyFile: "client.nk"})
//	...
//	defer fleet.Close()
//	res, err := fleet.Call(ctx, orch.Call{Agent: "nrpe", Action: "run",
//		Input:  map[string]any{"command": "check_load"},
//		Filter: orch.Filter{Facts: orch.Facts("cluster=alfa")},
//		Retry:  orch.Retry{Timeout: 100 * time.Second, Interval: 5 * time.Second},
//		Check:  orch.NagiosOK})
//	for _, id := range res.Failed() { ... }
//
// docs/sdk.md introduces it; examples/webapp/deploy.go is a complete
// program.
package orch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/call"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/clientconf"
	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
	"github.com/orch-fleet/orch/rpc"
)

// Types shared with the packages below, so that SDK users need import only
// this one.
type (
	// Filter selects nodes: facts, classes, agents, identities.
	Filter = fleet.Filter
	// FactFilter is one fact condition of a Filter.
	FactFilter = fleet.FactFilter
	// Reply is one node's answer: Identity, Status, Message, Data (the
	// action's JSON output), Changed, Elapsed.
	Reply = fleet.Reply
	// Status is a reply's status code.
	Status = fleet.Status
	// Event is one thing that happened in a playbook run.
	Event = engine.Event
	// Report is the result of a playbook run.
	Report = engine.Report
	// ConnSecurity is how the connection to the brokers is encrypted and
	// authenticated: TLS CA, client certificate and key (mTLS), .creds
	// file, nkey seed, user and password file.
	ConnSecurity = rpc.ConnSecurity
)

// ErrLockHeld is wrapped by Apply's error when another run holds the
// playbook's run lock.
var ErrLockHeld = fleet.ErrLockHeld

// Options say how to reach the fleet.
type Options struct {
	// Servers are broker URLs; default nats://127.0.0.1:4222.
	Servers []string
	// KeyFile is the client's nkey seed file (orch keygen); nodes must trust
	// its public key.
	KeyFile string
	// Collective is the subject prefix; default "orch".
	Collective string
	// Name identifies the caller in node audit logs; default "orch-sdk".
	Name string
	// Discovery is "registry", "broadcast" or "" (registry when it exists).
	Discovery string
	// Security sets TLS and broker credentials, with the same meaning as
	// the CLI's flags and the agent's settings of the same names.
	Security ConnSecurity
	// NATSOptions are passed to the NATS connection after Security's, for
	// anything else nats.go offers.
	NATSOptions []nats.Option
	// NodeKeys pins the nodes' public keys (identity -> "U…"): replies are
	// verified against these only, and nodes not listed cannot be called.
	// Nil: each node's key comes from its registry entry.
	NodeKeys map[string]string
	// BrokerGrace is how long to wait for a broker to come back after the
	// connection dropped; then calls fail with an error wrapping
	// ErrBrokerLost. 0 = 15s.
	BrokerGrace time.Duration
}

// ErrBrokerLost is wrapped by the errors of calls made after the
// connection to the broker was lost and none came back within
// Options.BrokerGrace.
var ErrBrokerLost = fleet.ErrBrokerLost

// Fleet is a connection to the fleet. It is safe for concurrent use.
type Fleet struct {
	nc     *nats.Conn
	client *rpc.Client
	o      Options
}

// Connect opens a connection to the fleet.
func Connect(ctx context.Context, o Options) (*Fleet, error) {
	if len(o.Servers) == 0 {
		o.Servers = []string{nats.DefaultURL}
	}
	if o.Collective == "" {
		o.Collective = rpc.DefaultCollective
	}
	if o.Name == "" {
		o.Name = "orch-sdk"
	}
	if o.KeyFile == "" {
		return nil, errors.New("orch: Options.KeyFile is required (orch keygen --out FILE creates one)")
	}
	key, err := rpc.LoadKey(o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("orch: loading the client key: %w", err)
	}
	sec, err := o.Security.Options()
	if err != nil {
		return nil, fmt.Errorf("orch: Options.Security: %w", err)
	}
	watch := rpc.NewBrokerWatch(o.BrokerGrace)
	nc, err := rpc.Connect(ctx, o.Servers, o.Name, append(append(watch.Options(), sec...), o.NATSOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("orch: %w", err) // names the servers, redacted
	}
	cl := rpc.NewClient(nc, key, rpc.ClientOptions{Collective: o.Collective, Name: o.Name, Broker: watch, NodeKeys: o.NodeKeys})
	cl.SetSchemas(builtin.Schema)
	return &Fleet{nc: nc, client: cl, o: o}, nil
}

// Close closes the connection.
func (f *Fleet) Close() { f.nc.Close() }

// Facts parses fact conditions such as "cluster=alfa", "cpus>=4" or
// "role=/^web/" for a Filter; it panics on a malformed one, which is a
// programming error (use fleet.ParseFactFilter for user input).
func Facts(conds ...string) []FactFilter {
	out := make([]FactFilter, 0, len(conds))
	for _, c := range conds {
		ff, err := fleet.ParseFactFilter(c)
		if err != nil {
			panic(fmt.Sprintf("orch.Facts(%q): %v", c, err))
		}
		out = append(out, ff)
	}
	return out
}

// Discover returns the identities of the nodes the filter selects, sorted.
func (f *Fleet) Discover(ctx context.Context, filter Filter) ([]string, error) {
	nodes, err := f.client.Discover(ctx, filter, rpc.DiscoverOptions{Method: f.o.Discovery})
	if err != nil {
		return nil, fmt.Errorf("orch: discovering %s: %w", filter.String(), err)
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.Identity
	}
	return ids, nil
}

// Retry says how Call retries the nodes still failing: Attempts (total,
// including the first; 0 = bounded by Timeout), Interval between attempts
// (default 5s) and Timeout (stop retrying this long after the first
// attempt, with one last attempt at the deadline). Zero: no retry.
type Retry = fleet.Retry

// Call is one agent action on a set of nodes.
type Call struct {
	Agent  string
	Action string
	Input  map[string]any
	// Nodes are the identities to call. When empty, Filter is discovered
	// first; when both are empty, every node serving Agent.
	Nodes  []string
	Filter Filter
	// Timeout bounds the wait for each batch's replies; default 60s.
	Timeout    time.Duration
	BatchSize  int           // call at most this many nodes at a time; 0 = all
	BatchSleep time.Duration // pause between batches
	// AnyOne calls exactly one node, trying the next on failure.
	AnyOne bool
	Retry  Retry
	// NoOp asks providers what they would change, changing nothing.
	NoOp bool
	// Check judges each ok reply; an error fails the node with its message
	// (and, with AnyOne, tries the next node). Nil accepts every ok reply.
	Check func(*Reply) error
}

// NodeResult is one node's final result of a Call.
type NodeResult struct {
	Identity string
	// Reply is the node's last reply; nil when it never answered.
	Reply *Reply
	// OK: it answered ok and passed Check.
	OK bool
	// Err says why the node failed ("" when OK).
	Err string
	// Attempts is how many times the node was called; 0 for a node an
	// AnyOne call never had to try.
	Attempts int
}

// Result is the outcome of a Call: every targeted node's final result.
type Result struct {
	Nodes   map[string]*NodeResult
	Elapsed time.Duration
	anyOne  bool
}

// sorted returns the identities whose result satisfies keep.
func (r *Result) sorted(keep func(*NodeResult) bool) []string {
	var out []string
	for id, nr := range r.Nodes {
		if keep(nr) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Succeeded returns the nodes that answered ok and passed the check.
func (r *Result) Succeeded() []string { return r.sorted(func(n *NodeResult) bool { return n.OK }) }

// Failed returns the nodes called that failed or never answered (with
// AnyOne, the nodes never tried are in neither list: Attempts is 0).
func (r *Result) Failed() []string {
	return r.sorted(func(n *NodeResult) bool { return !n.OK && n.Attempts > 0 })
}

// NoAnswer returns the nodes called that never answered.
func (r *Result) NoAnswer() []string {
	return r.sorted(func(n *NodeResult) bool { return n.Reply == nil && !n.OK && n.Attempts > 0 })
}

// OK reports whether the call succeeded: every node (with AnyOne: one).
func (r *Result) OK() bool {
	if len(r.Nodes) == 0 {
		return false
	}
	return len(r.Failed()) == 0 || r.anyOne && len(r.Succeeded()) > 0
}

// Decode unmarshals a node's reply data into v.
func (r *Result) Decode(identity string, v any) error {
	nr := r.Nodes[identity]
	if nr == nil || nr.Reply == nil {
		return fmt.Errorf("orch: no reply from %s", identity)
	}
	return json.Unmarshal(nr.Reply.Data, v)
}

// Call runs the action on the nodes and returns every node's result. The
// error is for calls that could not be made at all (bad input, discovery
// failed, the connection closed); nodes that fail are in the result. The
// batches, retries and any-one failover are the engine's own (package
// call), so a program and a playbook behave alike.
func (f *Fleet) Call(ctx context.Context, c Call) (*Result, error) {
	nodes := c.Nodes
	if len(nodes) == 0 {
		filter := c.Filter
		if filter.Empty() {
			filter = Filter{Agents: []string{c.Agent}}
		}
		var err error
		if nodes, err = f.Discover(ctx, filter); err != nil {
			return nil, err
		}
	}
	cr := call.Do(ctx, f.client, call.Spec{Agent: c.Agent, Action: c.Action, Input: c.Input, Targets: nodes,
		Timeout: c.Timeout, BatchSize: c.BatchSize, BatchSleep: c.BatchSleep, AnyOne: c.AnyOne,
		Retry: c.Retry, NoOp: c.NoOp, Judge: c.Check})
	if cr.Err != nil && !anyReply(cr) {
		return nil, fmt.Errorf("orch: calling %s.%s: %w", c.Agent, c.Action, cr.Err)
	}
	res := &Result{Nodes: map[string]*NodeResult{}, Elapsed: cr.Elapsed, anyOne: c.AnyOne}
	for _, id := range nodes {
		res.Nodes[id] = &NodeResult{Identity: id, Err: "not called"}
	}
	for _, nr := range cr.Nodes {
		out := &NodeResult{Identity: nr.Identity, Reply: nr.Reply, OK: nr.OK, Attempts: nr.Attempt, Err: nr.Err}
		if nr.Reply != nil && !nr.Reply.OK() {
			out.Err = fmt.Sprintf("%s: %s", nr.Reply.Status, nr.Reply.Message)
		}
		res.Nodes[nr.Identity] = out
	}
	if errors.Is(cr.Err, fleet.ErrBrokerLost) {
		// The replies received before are kept; the rest is unknown.
		return res, fmt.Errorf("orch: calling %s.%s: %w", c.Agent, c.Action, cr.Err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// anyReply reports whether any node answered.
func anyReply(r *call.Result) bool {
	for _, nr := range r.Nodes {
		if nr.Reply != nil {
			return true
		}
	}
	return false
}

// NagiosOK is a Check for nrpe run replies: it accepts only exit code 0.
func NagiosOK(rep *Reply) error { return resources.NagiosCheck(rep) }

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Vars are variable values as "NAME=VALUE", as -var takes them.
	Vars []string
	// VarFiles are -var-file paths.
	VarFiles []string
	// Parallelism bounds the resource instances in flight; default 10.
	Parallelism int
	FailFast    bool
	// NoOp plans instead of applying.
	NoOp bool
	// Lock names a run lock to hold for the run ("" = the playbook's).
	Lock string
	// OnEvent receives every event of the run, serialised.
	OnEvent func(Event)
	// Stop, when closed, stops the run gracefully.
	Stop <-chan struct{}
	// Confirm answers a rollout's confirmation (confirm = true: after the
	// canary; every batch with ConfirmEach): false stops the rollout. Nil:
	// nobody can confirm, so such a rollout stops after its canary.
	Confirm     func(ctx context.Context, question string) bool
	ConfirmEach bool
	// NoHistory leaves the run out of the collective's run history
	// (docs/runs.md), where every run is recorded by default.
	NoHistory bool
	// HistoryWarn is told, once, when the run cannot be recorded in the
	// run history (the run goes on); nil logs it with the log package.
	HistoryWarn func(error)
}

// PlaybookError is returned when a playbook does not compile; Diagnostics
// holds every problem with its position.
type PlaybookError struct {
	Path        string
	Diagnostics []string
}

// Error lists the diagnostics.
func (e *PlaybookError) Error() string {
	return fmt.Sprintf("orch: playbook %s is invalid: %s", e.Path, strings.Join(e.Diagnostics, "; "))
}

// Apply compiles the playbook at path and applies it to the fleet. The
// report holds every node's result; its Outcome says whether the run
// succeeded. The error is for runs that could not start (an invalid
// playbook is a *PlaybookError, a held lock wraps ErrLockHeld).
func (f *Fleet) Apply(ctx context.Context, path string, o ApplyOptions) (*Report, error) {
	res := playbook.Compile(path, resources.Builtin(), playbook.LoadOptions{Vars: o.Vars, VarFiles: o.VarFiles, Schemas: builtin.Schema})
	if res.Diagnostics.HasErrors() {
		pe := &PlaybookError{Path: path}
		for _, d := range res.Diagnostics {
			pe.Diagnostics = append(pe.Diagnostics, d.Error())
		}
		return nil, pe
	}
	run := f.beginRun(ctx, path, res, o)
	rep, err := engine.Run(ctx, res.Catalog, resources.Builtin(), rpc.NewFleet(f.client, rpc.DiscoverOptions{Method: f.o.Discovery}), engine.Options{
		Parallelism: o.Parallelism, FailFast: o.FailFast, NoOp: o.NoOp, Confirm: o.Confirm, ConfirmEach: o.ConfirmEach, Events: history.Tee(o.OnEvent, run.Event), Stop: o.Stop,
		Locker: f.client, LockName: o.Lock, LockHolder: f.o.Name,
	})
	run.Finish(rep, err)
	return rep, err
}

// beginRun starts recording an Apply in the run history, as orch apply
// does.
func (f *Fleet) beginRun(ctx context.Context, path string, res *playbook.Result, o ApplyOptions) *history.Run {
	key, name := f.client.Caller()
	cmd := "apply"
	if o.NoOp {
		cmd = "plan"
	}
	rec := history.Record{Command: cmd, Playbook: path, Digest: res.Digest(), Caller: history.Caller{Key: key, Name: name},
		NoOp: o.NoOp, Steps: history.StepsOf(res.Catalog)}
	for _, v := range res.Variables() {
		rec.Vars = append(rec.Vars, history.Variable(v))
	}
	warn := o.HistoryWarn
	if warn == nil {
		warn = func(err error) { log.Printf("orch: warning: the run is not recorded in the run history: %v", err) }
	}
	nc := f.nc
	if o.NoHistory {
		nc = nil
	}
	return history.Begin(ctx, nc, f.o.Collective, rec, history.RunOptions{Warn: warn})
}

// ClientOptions are the Options the orch CLI would use without flags: the
// client config file (~/.config/orch/client.hcl, else
// /etc/orch/client.hcl, or $ORCH_CLIENT_CONFIG) under the environment
// (ORCH_SERVER, ORCH_KEY, ORCH_COLLECTIVE, ORCH_TLS_CA, ORCH_TLS_CERT,
// ORCH_TLS_KEY, ORCH_BROKER_CREDS, ORCH_BROKER_NKEY, ORCH_BROKER_USER,
// ORCH_BROKER_PASSWORD_FILE); getenv is usually os.Getenv. docs/security.md
// lists the settings.
func ClientOptions(getenv func(string) string) (Options, error) {
	cfg, err := clientconf.Resolve(clientconf.Sources{Getenv: getenv})
	if err != nil {
		return Options{}, fmt.Errorf("orch: %w", err)
	}
	return Options{Servers: cfg.Servers(), KeyFile: cfg.Get(clientconf.SigningKey),
		Collective: cfg.Get(clientconf.Collective), Security: cfg.Security()}, nil
}
