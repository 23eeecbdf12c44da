// Package service is the provider that manages systemd units through
// systemctl: their status, start, stop, restart, reload, enable and
// disable. Every action is idempotent (start of a running unit, enable of
// an enabled one, change nothing) and honours no-op mode by reporting
// what it would do. Unit names are checked by the schema's pattern and
// passed to systemctl as argv after "--": nothing reaches a shell.
package service

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/runner"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// UnitPattern is what a unit name may look like: systemd's unit name
// characters without the backslash escape, never starting with '-' or '.'.
const UnitPattern = `^[A-Za-z0-9_:@][A-Za-z0-9_:.@-]*$`

// DefaultSystemctl are the paths tried when the provider block sets none.
var DefaultSystemctl = []string{"/usr/bin/systemctl", "/bin/systemctl"}

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "service", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

// Schema returns the service agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

// unitInput is the input of every action.
type unitInput struct {
	Unit string `json:"unit"`
}

func unitArg() []ddl.Input {
	return []ddl.Input{{Name: "unit", Type: ddl.String, Required: true, Pattern: UnitPattern, MaxLength: 256,
		Description: "the unit, e.g. nginx.service (systemctl adds .service when there is no suffix)"}}
}

// stateOutputs are the outputs of status, start, stop, restart and reload.
func stateOutputs() []ddl.Output {
	return []ddl.Output{
		{Name: "unit", Type: ddl.String, Description: "the unit's full name (Id)"},
		{Name: "load_state", Type: ddl.String, Description: "loaded, not-found, masked, ..."},
		{Name: "active_state", Type: ddl.String, Description: "active, inactive, failed, activating, ..."},
		{Name: "sub_state", Type: ddl.String, Description: "running, dead, exited, ..."},
		{Name: "unit_file_state", Type: ddl.String, Description: "enabled, disabled, static, masked, ..."},
		{Name: "main_pid", Type: ddl.Integer, Description: "0 when not running"},
		{Name: "description", Type: ddl.String},
	}
}

// actions declares the service agent: each action's schema beside its handler.
func actions() *action.Table[*Handler] {
	change := func(name, what string) *ddl.Action {
		return &ddl.Action{Name: name, Description: what, Mutates: true, Inputs: unitArg(), Outputs: stateOutputs()}
	}
	enableOut := []ddl.Output{{Name: "unit", Type: ddl.String}, {Name: "enabled", Type: ddl.String, Description: "systemctl is-enabled: enabled, disabled, static, masked, ..."}}
	return action.NewTable(ddl.Agent{
		Name:        "service",
		Description: "Manage systemd units with systemctl: status, start, stop, restart, reload, enable, disable.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "status", Description: "The unit's load, active and unit file state.", Inputs: unitArg(), Outputs: stateOutputs()}, (*Handler).status),
		action.New(change("start", "Start the unit unless it is active."), (*Handler).start),
		action.New(change("stop", "Stop the unit unless it is inactive or failed."), (*Handler).stop),
		action.New(change("restart", "Restart the unit (always a change)."), (*Handler).restart),
		action.New(change("reload", "Reload the unit's configuration; it must be active (always a change)."), (*Handler).reload),
		action.New(&ddl.Action{Name: "enable", Description: "Enable the unit unless it is enabled (or static, indirect, generated).", Mutates: true, Inputs: unitArg(), Outputs: enableOut}, (*Handler).enable),
		action.New(&ddl.Action{Name: "disable", Description: "Disable the unit if it is enabled.", Mutates: true, Inputs: unitArg(), Outputs: enableOut}, (*Handler).disable),
	)
}

// config is the `provider "service" { ... }` block of the node config.
type config struct {
	// Systemctl is the systemctl binary; default the first of
	// DefaultSystemctl that exists when an action runs.
	Systemctl string `hcl:"systemctl,optional"`
	// Timeout bounds each action (all its systemctl commands); default
	// 90s, systemd's default start timeout.
	Timeout string `hcl:"timeout,optional"`
}

// Handler serves the service agent.
type Handler struct {
	actions   *action.Table[*Handler]
	systemctl []string // candidates, the first existing one is used
	timeout   time.Duration
}

// New decodes the provider block. A node without systemctl still starts:
// each action then answers aborted, saying so.
func New(body hcl.Body, _ providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	h := &Handler{actions: actions(), systemctl: DefaultSystemctl, timeout: 90 * time.Second}
	if c.Systemctl != "" {
		if !strings.HasPrefix(c.Systemctl, "/") {
			return nil, providers.Invalid(body, "Invalid systemctl path", "systemctl %q must be an absolute path.", c.Systemctl)
		}
		h.systemctl = []string{c.Systemctl}
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return nil, providers.Invalid(body, "Invalid service timeout", "timeout %q is not a positive duration such as \"90s\".", c.Timeout)
		}
		h.timeout = d
	}
	return h, nil
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Handle runs an action, all its systemctl commands together bounded by
// the provider's timeout.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	return h.actions.Handle(ctx, h, c)
}

// Argv returns the command line of systemctl with args, or an error when
// no systemctl exists on the node.
func (h *Handler) Argv(args ...string) ([]string, error) {
	for _, p := range h.systemctl {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return append([]string{p}, args...), nil
		}
	}
	return nil, fleet.Errorf(fleet.StatusAborted, "systemctl not found (looked for %s): this node does not run systemd; set systemctl in its provider \"service\" block if it lives elsewhere",
		strings.Join(h.systemctl, ", "))
}

// run runs systemctl with args; okCodes are the exit codes that are
// not failures (is-enabled exits 1 for a disabled unit).
func (h *Handler) run(ctx context.Context, args []string, okCodes ...int) (runner.Result, error) {
	argv, err := h.Argv(args...)
	if err != nil {
		return runner.Result{}, err
	}
	r := runner.Run(ctx, runner.Cmd{Argv: argv})
	if r.Err != nil {
		return r, fleet.Errorf(fleet.StatusAborted, "systemctl %s: %v", strings.Join(args, " "), r.Err)
	}
	if r.ExitCode == 0 || slices.Contains(okCodes, r.ExitCode) {
		return r, nil
	}
	out := r.Tail(3)
	if strings.Contains(out, "not been booted with systemd") || strings.Contains(out, "Failed to connect to bus") {
		return r, fleet.Errorf(fleet.StatusAborted, "systemd is not running on this node (systemctl %s: %s)", strings.Join(args, " "), oneLine(out))
	}
	return r, fleet.Errorf(fleet.StatusAborted, "systemctl %s: exit %d: %s", strings.Join(args, " "), r.ExitCode, oneLine(out))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Unit is a unit's state as systemctl show reports it.
type Unit struct {
	ID            string
	Description   string
	LoadState     string
	ActiveState   string
	SubState      string
	UnitFileState string
	MainPID       int
}

// ShowProperties are the properties status asks systemctl show for.
const ShowProperties = "Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID"

// ParseShow parses `systemctl show` output: KEY=VALUE lines, unknown keys
// ignored. A unit without LoadState is an error (not systemctl show output).
func ParseShow(out string) (Unit, error) {
	var u Unit
	for line := range strings.SplitSeq(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), "=")
		if !ok {
			continue
		}
		switch k {
		case "Id":
			u.ID = v
		case "Description":
			u.Description = v
		case "LoadState":
			u.LoadState = v
		case "ActiveState":
			u.ActiveState = v
		case "SubState":
			u.SubState = v
		case "UnitFileState":
			u.UnitFileState = v
		case "MainPID":
			u.MainPID, _ = strconv.Atoi(v)
		}
	}
	if u.LoadState == "" || u.ActiveState == "" {
		return u, fmt.Errorf("no LoadState or ActiveState in systemctl show output %q", oneLine(out))
	}
	return u, nil
}

// data is the reply data of a unit's state.
func (u Unit) data() map[string]any {
	return map[string]any{"unit": u.ID, "load_state": u.LoadState, "active_state": u.ActiveState, "sub_state": u.SubState,
		"unit_file_state": u.UnitFileState, "main_pid": u.MainPID, "description": u.Description}
}

// show returns the unit's state; a unit systemd does not know is
// invalid_input.
func (h *Handler) show(ctx context.Context, unit string) (Unit, error) {
	r, err := h.run(ctx, []string{"show", "--property=" + ShowProperties, "--", unit})
	if err != nil {
		return Unit{}, err
	}
	u, err := ParseShow(r.Stdout)
	if err != nil {
		return u, fleet.Errorf(fleet.StatusAborted, "%s: %v", unit, err)
	}
	if u.LoadState == "not-found" {
		return u, fleet.Errorf(fleet.StatusInvalidInput, "no unit %s on this node", unit)
	}
	return u, nil
}
