package resources

import (
	"fmt"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// haproxyType builds haproxy_disable, haproxy_enable and haproxy_drain: the
// servers of a backend, usually a node set, in one state on the load
// balancer nodes (by default every node serving the haproxy agent).
func haproxyType(name, action, what string, extra ...Arg) *Type {
	args := append([]Arg{
		{Name: "backend", Type: cty.String, Required: true, Description: "the HAProxy backend, e.g. web"},
		{Name: "servers", Type: cty.List(cty.String), Required: true, Description: "the servers: node identities (usually a node set) or server names"},
	}, extra...)
	return &Type{
		Name:        name,
		Description: what,
		Agent:       "haproxy",
		Action:      action,
		Args:        args,
		Request: func(a map[string]any) (Request, error) {
			be, _ := a["backend"].(string)
			servers, _ := a["servers"].([]any)
			if be == "" {
				return Request{}, fmt.Errorf("%s needs backend", name)
			}
			in := map[string]any{"backend": be, "servers": servers}
			if servers == nil {
				in["servers"] = []any{}
			}
			for _, e := range extra {
				if v, ok := a[e.Name]; ok && v != nil {
					in[e.Name] = v
				}
			}
			return Request{Agent: "haproxy", Action: action, Input: in}, nil
		},
	}
}

func haproxyDisable() *Type {
	return haproxyType("haproxy_disable", "disable", "Put servers of an HAProxy backend in maintenance.")
}

func haproxyEnable() *Type {
	return haproxyType("haproxy_enable", "enable", "Put servers of an HAProxy backend back in service.")
}

func haproxyDrain() *Type {
	t := haproxyType("haproxy_drain", "drain", "Drain servers of an HAProxy backend; optionally wait until their sessions end.",
		// wait has no Default: unset, the haproxy schema's default applies.
		Arg{Name: "wait", Type: cty.Bool, Description: "wait until the drained servers have no sessions"},
		// wait_timeout restates the haproxy schema's default because
		// CallTimeout needs it on the client side, where the node-side
		// schema is not linked; TestDefaultsAgreeWithSchemas pins the two.
		Arg{Name: "wait_timeout", Type: cty.Number, Default: cty.NumberIntVal(60), Description: "seconds to wait for sessions to reach 0"},
	)
	// Waiting for sessions to end takes up to wait_timeout on the node.
	t.CallTimeout = func(a map[string]any) time.Duration {
		if wait, _ := a["wait"].(bool); !wait {
			return 0
		}
		secs, _ := a["wait_timeout"].(float64)
		return time.Duration(secs)*time.Second + 30*time.Second
	}
	return t
}
