// Package packages is the provider of the "package" agent: Debian
// packages through dpkg-query and apt-get — status, install (a version,
// or a local .deb from an allowed directory) and remove. Every action is
// idempotent (a package already at the wanted version, or already gone,
// changes nothing) and honours no-op mode by saying what it would do.
// Names, versions and paths are checked by the schema's patterns and
// passed as argv after "--": nothing reaches a shell.
package packages

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/runner"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Patterns of the inputs: a Debian package name (with an optional
// :architecture), a Debian version, an absolute path to a .deb file.
const (
	NamePattern    = `^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`
	VersionPattern = `^[0-9][A-Za-z0-9.+~:-]*$`
	SourcePattern  = `^/[A-Za-z0-9._+/-]+\.deb$`
)

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "package", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

// Schema returns the package agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

func nameArg() ddl.Input {
	return ddl.Input{Name: "name", Type: ddl.String, Required: true, Pattern: NamePattern, MaxLength: 128, Description: "the package, e.g. nginx"}
}

// actions declares the package agent: each action's schema beside its handler.
func actions() *action.Table[*Handler] {
	state := []ddl.Output{
		{Name: "name", Type: ddl.String},
		{Name: "installed", Type: ddl.Boolean},
		{Name: "version", Type: ddl.String, Description: "the installed version, \"\" when not installed"},
		{Name: "status", Type: ddl.String, Description: "dpkg's status, e.g. \"install ok installed\"; \"\" for a package dpkg does not know"},
	}
	changed := append(state, ddl.Output{Name: "previous", Type: ddl.String, Description: "the version installed before, \"\" if none"})
	return action.NewTable(ddl.Agent{
		Name:        "package",
		Description: "Debian packages through dpkg and apt-get: status, install a version or a local .deb, remove.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "status", Description: "Whether the package is installed, and which version.",
			Inputs: []ddl.Input{nameArg()}, Outputs: state}, (*Handler).status),
		action.New(&ddl.Action{Name: "install", Mutates: true,
			Description: "Install the package, at a version if one is given, from a local .deb if source is given; nothing when it is installed at that version.",
			Inputs: []ddl.Input{nameArg(),
				{Name: "version", Type: ddl.String, Pattern: VersionPattern, MaxLength: 128, Description: "the exact version; unset: any installed version will do"},
				{Name: "source", Type: ddl.String, Pattern: SourcePattern, MaxLength: 1024, Description: "a .deb file on the node, in one of the provider's deb_dirs"},
			}, Outputs: changed}, (*Handler).install),
		action.New(&ddl.Action{Name: "remove", Mutates: true, Description: "Remove the package (purge: and its configuration files); nothing when it is not installed.",
			Inputs:  []ddl.Input{nameArg(), {Name: "purge", Type: ddl.Boolean, Default: false, Description: "also remove its configuration files"}},
			Outputs: changed}, (*Handler).remove),
	)
}

// config is the `provider "package" { ... }` block of the node config.
type config struct {
	// Timeout bounds each action; default 10m.
	Timeout string `hcl:"timeout,optional"`
	// DebDirs are the directories install may take a local .deb from;
	// none by default, so source is refused.
	DebDirs []string `hcl:"deb_dirs,optional"`
}

// Handler serves the package agent. Actions run one at a time: dpkg has
// one database lock anyway.
type Handler struct {
	actions *action.Table[*Handler]
	timeout time.Duration
	debDirs []string // absolute, symlinks resolved
	mu      sync.Mutex
	// Binaries; tests leave them as they are.
	dpkgQuery, dpkgDeb, aptGet string
}

// New decodes the provider block.
func New(body hcl.Body, _ providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	h := &Handler{actions: actions(), timeout: 10 * time.Minute,
		dpkgQuery: "/usr/bin/dpkg-query", dpkgDeb: "/usr/bin/dpkg-deb", aptGet: "/usr/bin/apt-get"}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return nil, providers.Invalid(body, "Invalid package timeout", "timeout %q is not a positive duration such as \"10m\".", c.Timeout)
		}
		h.timeout = d
	}
	for _, d := range c.DebDirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil || !filepath.IsAbs(d) {
			return nil, providers.Invalid(body, "Invalid deb_dirs entry", "%q must be an existing absolute directory (%v).", d, err)
		}
		h.debDirs = append(h.debDirs, real)
	}
	return h, nil
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Handle runs an action, one at a time, bounded by the provider's timeout.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	return h.actions.Handle(ctx, h, c)
}

// State is a package's state in dpkg's database.
type State struct {
	Name    string
	Status  string // e.g. "install ok installed"; "" when dpkg does not know it
	Version string
}

// Installed reports whether the package is installed and configured.
func (s State) Installed() bool { return s.Status == "install ok installed" }

func (s State) data(previous string) map[string]any {
	v := s.Version
	if !s.Installed() {
		v = ""
	}
	return map[string]any{"name": s.Name, "installed": s.Installed(), "version": v, "status": s.Status, "previous": previous}
}

// Query asks dpkg-query for the package's status and version.
func (h *Handler) Query(ctx context.Context, name string) (State, error) {
	r := runner.Run(ctx, runner.Cmd{Argv: []string{h.dpkgQuery, "-W", "-f=${Status}\t${Version}\n", "--", name}})
	if r.Err != nil {
		return State{}, fleet.Errorf(fleet.StatusAborted, "dpkg-query: %v", r.Err)
	}
	if r.ExitCode == 1 && strings.Contains(r.Stderr, "no packages found") {
		return State{Name: name}, nil
	}
	if r.ExitCode != 0 {
		return State{}, fleet.Errorf(fleet.StatusAborted, "dpkg-query %s: exit %d: %s", name, r.ExitCode, r.Tail(3))
	}
	return ParseQuery(name, r.Stdout), nil
}

// ParseQuery parses the output of dpkg-query -W -f='${Status}\t${Version}\n'.
func ParseQuery(name, out string) State {
	line, _, _ := strings.Cut(out, "\n")
	status, version, _ := strings.Cut(line, "\t")
	return State{Name: name, Status: strings.TrimSpace(status), Version: strings.TrimSpace(version)}
}

// apt runs apt-get non-interactively, keeping changed configuration
// files, waiting up to 5 minutes for dpkg's lock.
func (h *Handler) apt(ctx context.Context, args ...string) error {
	argv := append([]string{h.aptGet, "-y", "-q", "-o", "DPkg::Lock::Timeout=300",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}, args...)
	env := append([]string{"DEBIAN_FRONTEND=noninteractive"}, runner.BaseEnv...)
	r := runner.Run(ctx, runner.Cmd{Argv: argv, Env: env, Limit: 256 * 1024})
	if r.Err != nil {
		return fleet.Errorf(fleet.StatusAborted, "apt-get %s: %v", strings.Join(args, " "), r.Err)
	}
	if r.ExitCode != 0 {
		return fleet.Errorf(fleet.StatusAborted, "apt-get %s: exit %d: %s", strings.Join(args, " "), r.ExitCode, strings.Join(strings.Fields(r.Tail(3)), " "))
	}
	return nil
}
