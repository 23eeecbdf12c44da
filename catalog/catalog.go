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
}

// NodeSet is a set of nodes chosen by discovery at apply time.
type NodeSet struct {
	Addr   string       `json:"addr"`
	Filter fleet.Filter `json:"filter"`
	Min    int          `json:"min,omitempty"` // fewer nodes than this fails the node set
	Max    int          `json:"max,omitempty"` // more nodes than this fails the node set; 0 = no limit
	Pos    string       `json:"pos"`           // file:line:col of the block
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
