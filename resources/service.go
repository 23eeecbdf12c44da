package resources

import (
	"fmt"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// serviceType builds service_start, service_stop, service_restart,
// service_reload, service_enable and service_disable: one systemd unit in
// one state on the targets (by default every node serving the service
// agent). The service provider does nothing where the unit already is in
// that state, so the resource is idempotent except restart and reload.
func serviceType(action, what string) *Type {
	name := "service_" + action
	return &Type{
		Name:        name,
		Description: what,
		Agent:       "service",
		Action:      action,
		// Above the service provider's own limit per action (90 s by
		// default, systemd's start timeout), so that a slow unit comes
		// back as the node's own error rather than as a silent node.
		CallTimeout: func(map[string]any) time.Duration { return 2 * time.Minute },
		Args: []Arg{
			{Name: "unit", Type: cty.String, Required: true, Description: "the systemd unit, e.g. nginx.service"},
		},
		Request: func(a map[string]any) (Request, error) {
			unit, _ := a["unit"].(string)
			if unit == "" {
				return Request{}, fmt.Errorf("%s needs unit", name)
			}
			return Request{Agent: "service", Action: action, Input: map[string]any{"unit": unit}}, nil
		},
	}
}

func serviceStart() *Type {
	return serviceType("start", "A systemd unit is running on the targets: started unless it is active.")
}

func serviceStop() *Type {
	return serviceType("stop", "A systemd unit is stopped on the targets: stopped unless it is inactive or failed.")
}

func serviceRestart() *Type {
	return serviceType("restart", "Restart a systemd unit on the targets (always a change).")
}

func serviceReload() *Type {
	return serviceType("reload", "Reload a running systemd unit's configuration on the targets (always a change).")
}

func serviceEnable() *Type {
	return serviceType("enable", "A systemd unit is enabled on the targets: enabled unless it is (or is static).")
}

func serviceDisable() *Type {
	return serviceType("disable", "A systemd unit is disabled on the targets: disabled if it is enabled.")
}
