// Package resources holds orch's resource types: what a playbook resource
// such as haproxy_disable or appmgr_deploy means. Each type declares its
// arguments (the schema the playbook compiler checks), the RPC it makes to
// the agent that serves it, and what counts as success in a node's reply.
// The provider that makes the type true on a node lives in providers/.
//
// One type per file; Builtin returns them all.
package resources

import (
	"fmt"
	"sort"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/zclconf/go-cty/cty"
)

// Arg declares one argument of a resource type.
type Arg struct {
	Name        string
	Description string
	Type        cty.Type
	Required    bool
	// Default is used when the argument is not given; cty.NilVal means none.
	Default cty.Value
}

// Request is the RPC a resource instance makes on each of its target nodes.
type Request struct {
	Agent  string
	Action string
	Input  map[string]any
}

// Type is one resource type.
type Type struct {
	Name        string
	Description string
	// Agent is the agent the type calls. Targets default to every node that
	// serves it. Empty for types whose arguments name the agent (rpc).
	Agent string
	// Action is the action the type calls, for display ("" for rpc).
	Action string
	Args   []Arg
	// AnyOne makes any_one the default for the type's resources: work that
	// must happen once, such as a notification.
	AnyOne bool
	// CallTimeout, when set, is how long a call may take by the nature of
	// the action (a deploy, a drain that waits), used when the resource
	// sets no timeout; it must exceed what the provider itself allows, so
	// that a slow node reports its own timeout instead of going silent.
	CallTimeout func(args map[string]any) time.Duration
	// Request builds the call from the evaluated arguments. Argument values
	// are plain JSON-shaped Go values: string, float64, bool, []any,
	// map[string]any, nil for an unset optional argument.
	Request func(args map[string]any) (Request, error)
	// Check judges a reply whose status is ok; a non-nil error marks the node
	// as failed with that message (e.g. an NRPE exit code other than OK).
	// Nil accepts every ok reply.
	Check func(args map[string]any, reply *fleet.Reply) error
}

// Registry maps type names to types.
type Registry map[string]*Type

// Lookup returns the named type.
func (r Registry) Lookup(name string) (*Type, bool) {
	t, ok := r[name]
	return t, ok
}

// Names returns the registered type names, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin returns a new registry holding every built-in resource type.
func Builtin() Registry {
	r := Registry{}
	for _, t := range builtin() {
		if _, dup := r[t.Name]; dup {
			panic(fmt.Sprintf("resources: type %s registered twice", t.Name))
		}
		r[t.Name] = t
	}
	return r
}

// builtin lists the constructors of the built-in types; each file adds its
// own line.
func builtin() []*Type {
	return []*Type{
		angeliaNotify(),
		appmgrDeploy(),
		execRun(),
		fileRemove(),
		fileWrite(),
		genericRPC(),
		haproxyDisable(),
		haproxyDrain(),
		haproxyEnable(),
		nrpeCheck(),
		packageInstall(),
		packageRemove(),
		rpcutilPing(),
		serviceDisable(),
		serviceEnable(),
		serviceReload(),
		serviceRestart(),
		serviceStart(),
		serviceStop(),
	}
}
