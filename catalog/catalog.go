package catalog

import (
	"strings"
	"time"

	"github.com/orch-fleet/orch/fleet"
)

// Catalog is a compiled playbook: resource instances with their evaluated
// arguments, the node sets they use, and the dependencies between them. It is
// plain data; the engine walks it without knowing HCL.
type Catalog struct {
	// Lock, when set, names the run lock the playbook asked for.
	Lock string `json:"lock,omitempty"`
	// NodeSets are keyed by address ("nodes.web", "module.lb.nodes.lb").
	NodeSets map[string]*NodeSet `json:"node_sets"`
	// Resources are the resource instances in a deterministic topological
	// order (dependencies first, ties broken by address).
	Resources []*Resource `json:"resources"`
	// Rollouts are the groups of instances applied batch by batch, keyed by
	// address ("module.upgrade"); their members are in Resources too.
	Rollouts map[string]*Rollout `json:"rollouts,omitempty"`
}

// Rollout applies a group of resource instances (a module instance's) to a
// node set batch by batch: every member completes for batch k before batch
// k+1 starts. The members read the current batch from Resolved[BatchKey];
// nodes that fail leave the rollout, which goes on while the failure budget
// holds.
type Rollout struct {
	Addr string `json:"addr"`
	// NodeSet is the address of the node set rolled (a NodeSets key or a
	// result key).
	NodeSet string `json:"node_set"`
	// BatchKey is the Resolved key holding the current batch.
	BatchKey string `json:"batch_key"`
	// Batches are the batch sizes in order; the last one repeats until
	// every node had its turn.
	Batches []Size `json:"batches"`
	// Pause is the wait between two batches.
	Pause time.Duration `json:"pause,omitempty"`
	// Confirm waits for a person before the second batch (after the
	// canary).
	Confirm bool `json:"confirm,omitempty"`
	// MaxFailed is the failure budget: how many nodes may fail (and leave
	// the rollout) before no new batch starts. Zero: none.
	MaxFailed Size `json:"max_failed,omitzero"`
	// Members are the addresses of the instances rolled, in catalog order.
	Members []string `json:"members"`
	Pos     string   `json:"pos"`
}

// Size is a number of nodes, absolute or as a percentage of a node set.
type Size struct {
	Count   int     `json:"count,omitempty"`
	Percent float64 `json:"percent,omitempty"` // 0 < Percent <= 100 when set
}

// Of returns the size for a node set of n nodes: a percentage rounds up
// (at least one node when n > 0).
func (s Size) Of(n int) int {
	if s.Percent <= 0 {
		return s.Count
	}
	k := int(float64(n)*s.Percent/100 + 0.999999)
	if k < 1 && n > 0 {
		k = 1
	}
	return min(k, n)
}

// When says when a resource instance runs, relative to its dependencies.
const (
	WhenSuccess = ""        // every dependency succeeded (the default)
	WhenFailure = "failure" // after its dependencies finished, when one of them failed (a failure hook)
	WhenAlways  = "always"  // after its dependencies finished, whatever happened, even after an interrupt (clean-up)
)

// NodeSet is a set of nodes chosen by discovery at apply time.
type NodeSet struct {
	Addr   string       `json:"addr"`
	Filter fleet.Filter `json:"filter"`
	Min    int          `json:"min,omitempty"` // fewer nodes than this fails the node set
	// AllowEmpty: the playbook said min = 0, so discovering no node is
	// fine; otherwise an empty node set fails the run (no silent no-op).
	AllowEmpty bool   `json:"allow_empty,omitempty"`
	Max        int    `json:"max,omitempty"` // more nodes than this fails the node set; 0 = no limit
	Pos        string `json:"pos"`           // file:line:col of the block
}

// Resolved maps node set addresses to the identities discovery found, and
// result keys (ResultKey) to the identities of an earlier resource's run
// results.
type Resolved map[string][]string

// The run results of a resource instance that later resources may use, as
// attributes of its value: TYPE.NAME.changed_nodes and so on.
const (
	ResultChanged = "changed_nodes" // nodes that succeeded and changed (or, under noop, would change)
	ResultOK      = "ok_nodes"      // nodes that succeeded
	ResultFailed  = "failed_nodes"  // nodes that failed or did not answer
)

// ResultAttrs returns the names of the result attributes.
func ResultAttrs() []string { return []string{ResultChanged, ResultOK, ResultFailed} }

// ResultKey is the Resolved key (and the pseudo node set address in
// Resource.NodeSets) of a result attribute of the instance addr.
func ResultKey(addr, attr string) string { return addr + "#" + attr }

// SplitResultKey returns the instance address and attribute of a result
// key; ok is false for a node set address.
func SplitResultKey(key string) (addr, attr string, ok bool) {
	i := strings.LastIndexByte(key, '#')
	if i < 0 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// Resource is one resource instance.
type Resource struct {
	Addr        string   `json:"addr"` // e.g. module.lb["bravo"].haproxy_disable.web, appmgr_deploy.app["billing"]
	Type        string   `json:"type"`
	Module      string   `json:"module,omitempty"` // address of the module instance holding it, "" at the root
	Description string   `json:"description,omitempty"`
	Pos         string   `json:"pos"`        // file:line:col of the block
	DependsOn   []string `json:"depends_on"` // addresses of the instances it directly depends on, sorted
	NodeSets    []string `json:"node_sets"`  // addresses of the node sets (and result keys) Targets and Args need, sorted

	BatchSize  int           `json:"batch_size,omitempty"`
	BatchSleep time.Duration `json:"batch_sleep,omitempty"`
	Timeout    time.Duration `json:"timeout,omitempty"` // per call; 0 = engine default
	Retry      Retry         `json:"retry"`
	AnyOne     bool          `json:"any_one,omitempty"`
	FailOK     bool          `json:"fail_ok,omitempty"`
	// NoOp runs the resource in no-op mode: providers report what they
	// would change (its changed_nodes), changing nothing.
	NoOp bool `json:"noop,omitempty"`
	// MaxFailed is the resource's failure budget: while no more nodes than
	// this fail, what depends on it still runs (the run still fails).
	// Zero: none.
	MaxFailed Size `json:"max_failed,omitzero"`
	// When is WhenSuccess, WhenFailure or WhenAlways.
	When string `json:"when,omitempty"`
	// Rollout is the address of the rollout the instance belongs to; "" =
	// none.
	Rollout string `json:"rollout,omitempty"`

	// Static holds the arguments known at compile time (all of them when
	// NodeSets is empty); values that depend on discovery are absent. For
	// display and serialisation only.
	Static map[string]any `json:"args"`

	// HasTargets is false when the resource gives no targets: it applies
	// to every node serving its type's agent.
	HasTargets bool `json:"has_targets"`

	// Late evaluates what is known only at apply time: the targets and
	// arguments that depend on discovery or on earlier results, and the
	// playbook's expect check on each reply.
	Late Late `json:"-"`
}

// Late is the late-bound part of a resource instance: the part of the
// playbook that can only be evaluated once the node sets (and earlier
// results) it uses are resolved. Methods are safe for concurrent use.
type Late interface {
	// Targets returns the identities the resource applies to (only
	// meaningful when Resource.HasTargets).
	Targets(Resolved) ([]string, error)
	// Args evaluates the type's arguments.
	Args(Resolved) (map[string]any, error)
	// Expect judges one ok reply against the playbook's expect expression;
	// nil when it passes or the resource has none.
	Expect(*fleet.Reply) error
	// HasExpect reports whether the resource has an expect expression.
	HasExpect() bool
}

// Retry says how a failing resource is retried on the nodes still failing
// (the same type the call executor and the SDK use).
type Retry = fleet.Retry
