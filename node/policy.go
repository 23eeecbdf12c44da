package node

import (
	"path"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// authorizer decides whether a verified request may run: its key must be a
// trusted client's, and the policy must allow that client the action.
type authorizer struct {
	clients map[string]string // public key -> client name
	policy  *PolicyBlock
}

func newAuthorizer(c *Config) *authorizer {
	a := &authorizer{clients: map[string]string{}, policy: c.Policy}
	for _, cl := range c.Clients {
		a.clients[cl.Key] = cl.Name
	}
	return a
}

// trusted implements rpc.ServerOptions.Trusted: the key is a configured
// client's.
func (a *authorizer) trusted(key string) bool {
	_, ok := a.clients[key]
	return ok
}

// authorize implements rpc.ServerOptions.Authorize.
func (a *authorizer) authorize(req *rpc.Request) error {
	name, ok := a.clients[req.SenderKey]
	if !ok {
		return fleet.Errorf(fleet.StatusUnauthorised, "caller key %s is not trusted by this node", req.SenderKey)
	}
	action := req.Agent + "." + req.Action
	if req.Agent == rpc.DiscoveryAgent {
		return nil // every trusted client may discover
	}
	if a.allowed(name, action) {
		return nil
	}
	return fleet.Errorf(fleet.StatusUnauthorised, "policy denies client %q the action %s", name, action)
}

// allowed applies the policy: the first rule matching the client and the
// action decides; otherwise the default. No policy block: every trusted
// client may call everything.
func (a *authorizer) allowed(client, action string) bool {
	if a.policy == nil {
		return true
	}
	for _, r := range a.policy.Rules {
		if matchAny(r.Clients, client) && matchAny(r.Actions, action) {
			return r.Effect == "allow"
		}
	}
	return a.policy.Default == "allow"
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, s); err == nil && ok {
			return true
		}
	}
	return false
}
