package resources

import (
	"fmt"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// packageType builds package_install and package_remove: a Debian package
// present (at a version) or absent on the targets, by default every node
// serving the package agent.
func packageType(action, what string, extra ...Arg) *Type {
	name := "package_" + action
	return &Type{
		Name:        name,
		Description: what,
		Agent:       "package",
		Action:      action,
		// Above the package provider's own limit per action (10 m by
		// default): apt-get may download and configure for a while.
		CallTimeout: func(map[string]any) time.Duration { return 12 * time.Minute },
		Args:        append([]Arg{{Name: "name", Type: cty.String, Required: true, Description: "the package, e.g. nginx"}}, extra...),
		Request: func(a map[string]any) (Request, error) {
			pkg, _ := a["name"].(string)
			if pkg == "" {
				return Request{}, fmt.Errorf("%s needs name", name)
			}
			in := map[string]any{"name": pkg}
			for _, e := range extra {
				if v, ok := a[e.Name]; ok && v != nil {
					in[e.Name] = v
				}
			}
			return Request{Agent: "package", Action: action, Input: in}, nil
		},
	}
}

func packageInstall() *Type {
	return packageType("install", "A Debian package is installed on the targets (at a version, or from a local .deb); nothing when it already is.",
		Arg{Name: "version", Type: cty.String, Description: "the exact version; unset: any installed version will do"},
		Arg{Name: "source", Type: cty.String, Description: "a .deb file on the nodes, in one of the provider's deb_dirs"},
	)
}

func packageRemove() *Type {
	// purge has no Default: unset, the package schema's (false) applies.
	return packageType("remove", "A Debian package is not installed on the targets; nothing when it already is not.",
		Arg{Name: "purge", Type: cty.Bool, Description: "also remove its configuration files"},
	)
}
