package resources

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
)

// angeliaNotify is angelia_notify: a notification delivered once, by any one
// of the notifier nodes (any_one is the default for this type).
func angeliaNotify() *Type {
	return &Type{
		Name:        "angelia_notify",
		Description: "Notify people through any one of the notifier nodes (delivered once, with failover).",
		Agent:       "angelia",
		Action:      "notify",
		AnyOne:      true,
		Args: []Arg{
			{Name: "recipient", Type: cty.String, Required: true, Description: "a recipient declared in the notifier nodes' config"},
			{Name: "subject", Type: cty.String, Required: true},
			{Name: "message", Type: cty.String, Required: true},
			// No Default: the angelia schema declares it, and schema
			// validation fills it in when the argument is unset.
			{Name: "priority", Type: cty.String, Description: "low, normal, high or critical; unset, the angelia schema's default"},
		},
		Request: func(a map[string]any) (Request, error) {
			in := map[string]any{}
			for _, k := range []string{"recipient", "subject", "message", "priority"} {
				if v, ok := a[k].(string); ok {
					in[k] = v
				}
			}
			if in["recipient"] == nil {
				return Request{}, fmt.Errorf("angelia_notify needs recipient")
			}
			return Request{Agent: "angelia", Action: "notify", Input: in}, nil
		},
	}
}
