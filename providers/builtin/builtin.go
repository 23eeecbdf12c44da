// Package builtin lists the providers compiled into orch. The node daemon
// hosts those its config enables; clients use their schemas to validate input
// and to describe agents.
package builtin

import (
	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/angelia"
	"github.com/orch-fleet/orch/providers/appmgr"
	"github.com/orch-fleet/orch/providers/emulated"
	"github.com/orch-fleet/orch/providers/exec"
	"github.com/orch-fleet/orch/providers/file"
	"github.com/orch-fleet/orch/providers/haproxy"
	"github.com/orch-fleet/orch/providers/nrpe"
	"github.com/orch-fleet/orch/providers/packages"
	"github.com/orch-fleet/orch/providers/rpcutil"
	"github.com/orch-fleet/orch/providers/service"
)

// Specs returns every built-in provider, sorted by name.
func Specs() []providers.Spec {
	return []providers.Spec{
		// one line per provider package, sorted by name
		angelia.Spec(),
		appmgr.Spec(),
		emulated.Spec(),
		exec.Spec(),
		file.Spec(),
		haproxy.Spec(),
		nrpe.Spec(),
		packages.Spec(), // the package agent
		rpcutil.Spec(),
		service.Spec(),
	}
}

// Lookup returns the built-in provider named name.
func Lookup(name string) (providers.Spec, bool) {
	for _, s := range Specs() {
		if s.Name == name {
			return s, true
		}
	}
	return providers.Spec{}, false
}

// Schema returns the schema of the built-in agent named name, nil if there
// is none: what clients check requests against before sending them.
func Schema(name string) *ddl.Agent {
	if s, ok := Lookup(name); ok && s.Schema != nil {
		return s.Schema()
	}
	return nil
}
