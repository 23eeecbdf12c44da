// Package exec is the provider of the "exec" agent: it runs commands
// named in the node config, never a command line from the caller (the
// caller names a command). Like Puppet's exec, a command is made
// idempotent by guards: creates (a path whose existence means done),
// unless (a command whose success means done) and onlyif (a command
// whose failure means nothing to do). Commands run as argv, through a
// shell only when their config entry says shell = "...", in their own
// process group killed as a whole at the timeout, with output capped.
package exec

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
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

// Patterns of the inputs.
const (
	CommandPattern = `^[A-Za-z0-9_.-]+$`
	PathPattern    = `^/[^\x00]*$`
)

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "exec", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

// Schema returns the exec agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

// actions declares the exec agent: each action's schema beside its handler.
func actions() *action.Table[*Handler] {
	return action.NewTable(ddl.Agent{
		Name:        "exec",
		Description: "Run commands defined in the node config, guarded by creates/unless/onlyif for idempotency.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "run", Mutates: true,
			Description: "Run a defined command unless a guard says it has nothing to do.",
			Inputs: []ddl.Input{
				{Name: "command", Type: ddl.String, Required: true, Pattern: CommandPattern, MaxLength: 128, Description: "the command's name in the node config"},
				{Name: "creates", Type: ddl.String, Pattern: PathPattern, MaxLength: 4096, Description: "skip the command when this path exists (adds to the config's)"},
				{Name: "unless", Type: ddl.String, Pattern: CommandPattern, MaxLength: 128, Description: "a defined command: skip when it succeeds (adds to the config's)"},
			},
			Outputs: []ddl.Output{
				{Name: "command", Type: ddl.String},
				{Name: "ran", Type: ddl.Boolean, Description: "the command ran (under no-op: would run)"},
				{Name: "reason", Type: ddl.String, Description: "why it did not run, or would run"},
				{Name: "exitcode", Type: ddl.Integer, Description: "-1 when it did not run"},
				{Name: "stdout", Type: ddl.String},
				{Name: "stderr", Type: ddl.String},
				{Name: "truncated", Type: ddl.Boolean, Description: "output was cut at the output limit"},
				{Name: "elapsed_ms", Type: ddl.Number},
			}},
			(*Handler).run),
		action.New(&ddl.Action{Name: "list", Description: "The commands defined on the node.",
			Outputs: []ddl.Output{{Name: "commands", Type: ddl.Map, Description: "name -> argv (a shell command as [\"/bin/sh\", \"-c\", LINE])"}}},
			(*Handler).list),
	)
}

// config is the `provider "exec" { ... }` block of the node config.
type config struct {
	Timeout     string         `hcl:"timeout,optional"`
	OutputLimit int            `hcl:"output_limit,optional"`
	Commands    []commandBlock `hcl:"command,block"`
}

// commandBlock is one `command "NAME" { ... }` block.
type commandBlock struct {
	Name    string            `hcl:"name,label"`
	Argv    []string          `hcl:"argv,optional"`
	Shell   string            `hcl:"shell,optional"`
	Creates string            `hcl:"creates,optional"`
	Unless  []string          `hcl:"unless,optional"`
	OnlyIf  []string          `hcl:"onlyif,optional"`
	Dir     string            `hcl:"dir,optional"`
	Env     map[string]string `hcl:"env,optional"`
	Timeout string            `hcl:"timeout,optional"`
	Returns []int             `hcl:"returns,optional"`
	Range   hcl.Range         `hcl:",def_range"`
}

// Command is one allowed command, ready to run.
type Command struct {
	Argv    []string
	Creates string
	Unless  []string
	OnlyIf  []string
	Dir     string
	Env     []string
	Timeout time.Duration
	Returns []int
}

// Handler serves the exec agent.
type Handler struct {
	actions  *action.Table[*Handler]
	commands map[string]*Command
	limit    int
}

// Defaults of the provider block.
const (
	DefaultTimeout     = 5 * time.Minute
	DefaultOutputLimit = 64 * 1024
)

// New decodes the provider block: the commands the node allows.
func New(body hcl.Body, _ providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	h := &Handler{actions: actions(), commands: map[string]*Command{}, limit: DefaultOutputLimit}
	timeout, err := duration(c.Timeout, DefaultTimeout)
	if err != nil {
		return nil, providers.Invalid(body, "Invalid exec timeout", "%v", err)
	}
	if c.OutputLimit < 0 {
		return nil, providers.Invalid(body, "Invalid exec output_limit", "output_limit must be a positive number of bytes, got %d.", c.OutputLimit)
	}
	if c.OutputLimit > 0 {
		h.limit = c.OutputLimit
	}
	for _, b := range c.Commands {
		cmd, err := b.command(timeout)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid exec command", Detail: fmt.Sprintf("command %q: %v", b.Name, err), Subject: &b.Range}}
		}
		if _, dup := h.commands[b.Name]; dup {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Duplicate exec command", Detail: fmt.Sprintf("command %q is defined twice.", b.Name), Subject: &b.Range}}
		}
		h.commands[b.Name] = cmd
	}
	return h, nil
}

// command checks a command block and builds the command.
func (b commandBlock) command(timeout time.Duration) (*Command, error) {
	if !regexp.MustCompile(CommandPattern).MatchString(b.Name) {
		return nil, fmt.Errorf("the name must match %s", CommandPattern)
	}
	cmd := &Command{Argv: b.Argv, Creates: b.Creates, Unless: b.Unless, OnlyIf: b.OnlyIf, Dir: b.Dir, Returns: b.Returns}
	switch {
	case len(b.Argv) > 0 && b.Shell != "", len(b.Argv) == 0 && b.Shell == "":
		return nil, fmt.Errorf("set exactly one of argv (run directly) and shell (run through /bin/sh -c)")
	case b.Shell != "":
		cmd.Argv = []string{"/bin/sh", "-c", b.Shell}
	}
	for what, argv := range map[string][]string{"argv": cmd.Argv, "unless": b.Unless, "onlyif": b.OnlyIf} {
		if len(argv) > 0 && !filepath.IsAbs(argv[0]) {
			return nil, fmt.Errorf("%s[0] %q must be an absolute path", what, argv[0])
		}
	}
	for what, p := range map[string]string{"creates": b.Creates, "dir": b.Dir} {
		if p != "" && !filepath.IsAbs(p) {
			return nil, fmt.Errorf("%s %q must be an absolute path", what, p)
		}
	}
	if len(cmd.Returns) == 0 {
		cmd.Returns = []int{0}
	}
	cmd.Env = slices.Clone(runner.BaseEnv)
	for _, k := range slices.Sorted(maps.Keys(b.Env)) {
		cmd.Env = append(cmd.Env, k+"="+b.Env[k])
	}
	var err error
	cmd.Timeout, err = duration(b.Timeout, timeout)
	return cmd, err
}

// duration parses s, a positive duration; "" is def.
func duration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("timeout %q is not a positive duration such as \"30s\"", s)
	}
	return d, nil
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Handle runs an action.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.actions.Handle(ctx, h, c)
}

func (h *Handler) list(context.Context, *rpc.Call, *action.None) (*rpc.Result, error) {
	out := make(map[string]any, len(h.commands))
	for name, c := range h.commands {
		out[name] = c.Argv
	}
	return &rpc.Result{Data: map[string]any{"commands": out}}, nil
}

// lookup returns the named command, or invalid_input listing the defined ones.
func (h *Handler) lookup(name string) (*Command, error) {
	if c, ok := h.commands[name]; ok {
		return c, nil
	}
	return nil, fleet.Errorf(fleet.StatusInvalidInput, "no exec command %q is defined on this node (defined: %s)", name, strings.Join(slices.Sorted(maps.Keys(h.commands)), ", "))
}
