// Package nrpe is the provider that runs Nagios checks on a node, the way
// NRPE does: only the commands defined on the node (command[NAME]=LINE in
// NRPE's own file format, with include and include_dir), each with a
// timeout, returning the Nagios exit code, the status line and the parsed
// performance data.
package nrpe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Nagios exit codes.
const (
	OK       = 0
	Warning  = 1
	Critical = 2
	Unknown  = 3
)

// StatusName returns the Nagios name of an exit code.
func StatusName(code int) string {
	switch code {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	default:
		return "UNKNOWN"
	}
}

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "nrpe", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

// commandPattern is what a command name may look like.
const commandPattern = `^[A-Za-z0-9_.-]+$`

// Schema returns the nrpe agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

// actions declares the nrpe agent: each action's schema beside its handler.
func actions() *action.Table[*Handler] {
	return action.NewTable(ddl.Agent{
		Name:        "nrpe",
		Description: "Run the Nagios checks defined on the node (NRPE command definitions).",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "run", Description: "Run one defined check command and return its Nagios result.",
			Inputs: []ddl.Input{{Name: "command", Type: ddl.String, Required: true, Pattern: commandPattern, MaxLength: 128,
				Description: "the command's name, e.g. check_load"}},
			Outputs: []ddl.Output{
				{Name: "command", Type: ddl.String},
				{Name: "exitcode", Type: ddl.Integer, Description: "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for a timeout)"},
				{Name: "status", Type: ddl.String, Description: "OK, WARNING, CRITICAL or UNKNOWN"},
				{Name: "output", Type: ddl.String, Description: "the status line, without performance data"},
				{Name: "long_output", Type: ddl.String, Description: "the lines after the first"},
				{Name: "perfdata", Type: ddl.List, Description: "parsed performance data: label, value, uom, warn, crit, min, max"},
				{Name: "elapsed_ms", Type: ddl.Number},
			}},
			(*Handler).run),
		action.New(&ddl.Action{Name: "list", Description: "The check commands defined on the node.",
			Outputs: []ddl.Output{{Name: "commands", Type: ddl.Map, Description: "name -> command line"}}},
			(*Handler).list),
	)
}

// runInput is the input of run.
type runInput struct {
	Command string `json:"command"`
}

// config is the `provider "nrpe" { ... }` block of the node config.
type config struct {
	// ConfigFiles are NRPE-format files (nrpe.cfg and the like).
	ConfigFiles []string `hcl:"config_files,optional"`
	// Commands are defined inline, name -> command line.
	Commands map[string]string `hcl:"commands,optional"`
	// Timeout bounds each check; default 60s as NRPE's command_timeout.
	Timeout string `hcl:"timeout,optional"`
}

// New decodes the provider block and reads the command definitions.
func New(body hcl.Body, env providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	fail := func(summary, detail string) (rpc.Handler, hcl.Diagnostics) {
		return nil, providers.Invalid(body, summary, "%s", detail)
	}
	h := &Handler{actions: actions(), commands: map[string]string{}, timeout: 60 * time.Second}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return fail("Invalid nrpe timeout", fmt.Sprintf("timeout %q is not a positive duration such as \"30s\".", c.Timeout))
		}
		h.timeout = d
	}
	for _, f := range c.ConfigFiles {
		if err := readConfig(f, h.commands, 0); err != nil {
			return fail("Cannot read NRPE commands", err.Error())
		}
	}
	re := regexp.MustCompile(commandPattern)
	for name, line := range c.Commands {
		if !re.MatchString(name) {
			return fail("Invalid NRPE command name", fmt.Sprintf("command name %q must match %s.", name, commandPattern))
		}
		h.commands[name] = line
	}
	return h, nil
}

// readConfig reads an NRPE-format file: command[NAME]=LINE, include=FILE,
// include_dir=DIR (every *.cfg in it, recursively); other settings are
// ignored. Later definitions override earlier ones, as in NRPE.
func readConfig(path string, into map[string]string, depth int) error {
	if depth > 10 {
		return fmt.Errorf("%s: includes nested too deep", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	re := regexp.MustCompile(commandPattern)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		rel := func(p string) string {
			if filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(filepath.Dir(path), p)
		}
		switch {
		case strings.HasPrefix(key, "command[") && strings.HasSuffix(key, "]"):
			name := key[len("command[") : len(key)-1]
			if !re.MatchString(name) {
				return fmt.Errorf("%s:%d: command name %q must match %s", path, ln, name, commandPattern)
			}
			if val == "" {
				return fmt.Errorf("%s:%d: command %s has an empty command line", path, ln, name)
			}
			into[name] = val
		case key == "include":
			if err := readConfig(rel(val), into, depth+1); err != nil {
				return err
			}
		case key == "include_dir":
			dir := rel(val)
			var files []string
			err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && strings.HasSuffix(p, ".cfg") {
					files = append(files, p)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s:%d: include_dir %s: %w", path, ln, dir, err)
			}
			sort.Strings(files)
			for _, f := range files {
				if err := readConfig(f, into, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return sc.Err()
}

// Handler serves the nrpe agent.
type Handler struct {
	actions  *action.Table[*Handler]
	commands map[string]string
	timeout  time.Duration
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Handle runs an action.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.actions.Handle(ctx, h, c)
}

func (h *Handler) list(context.Context, *rpc.Call, *action.None) (*rpc.Result, error) {
	cmds := make(map[string]any, len(h.commands))
	for k, v := range h.commands {
		cmds[k] = v
	}
	return &rpc.Result{Data: map[string]any{"commands": cmds}}, nil
}

func (h *Handler) run(ctx context.Context, _ *rpc.Call, in *runInput) (*rpc.Result, error) {
	line, ok := h.commands[in.Command]
	if !ok {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "no NRPE command %q is defined on this node (defined: %s)", in.Command, strings.Join(slices.Sorted(maps.Keys(h.commands)), ", "))
	}
	r := Run(ctx, line, h.timeout)
	msg := r.Status + ": " + r.Output
	return &rpc.Result{Message: msg, Data: map[string]any{
		"command": in.Command, "exitcode": r.ExitCode, "status": r.Status, "output": r.Output,
		"long_output": r.LongOutput, "perfdata": r.Perfdata, "elapsed_ms": float64(r.Elapsed.Microseconds()) / 1000,
	}}, nil
}

// Result is the outcome of one check.
type Result struct {
	ExitCode   int
	Status     string
	Output     string
	LongOutput string
	Perfdata   []Perf
	Elapsed    time.Duration
}

// Perf is one performance datum: 'label'=value[UOM];[warn];[crit];[min];[max].
type Perf struct {
	Label string   `json:"label"`
	Value float64  `json:"value"`
	UOM   string   `json:"uom,omitempty"`
	Warn  string   `json:"warn,omitempty"`
	Crit  string   `json:"crit,omitempty"`
	Min   *float64 `json:"min,omitempty"`
	Max   *float64 `json:"max,omitempty"`
}

// Run runs a check command line through /bin/sh, as NRPE does, killing its
// whole process group at the timeout (UNKNOWN, as NRPE reports a timeout).
func Run(ctx context.Context, line string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout = &limitWriter{w: &out, n: 64 * 1024}
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	r := Result{Elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.ExitCode = Unknown
		r.Output = fmt.Sprintf("check timed out after %s", timeout)
		r.Status = StatusName(r.ExitCode)
		return r
	case err == nil:
		r.ExitCode = 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.ExitCode = ee.ExitCode()
	default:
		r.ExitCode = Unknown
		r.Output = "cannot run the check: " + err.Error()
		r.Status = StatusName(r.ExitCode)
		return r
	}
	if r.ExitCode < 0 || r.ExitCode > 3 {
		r.ExitCode = Unknown
	}
	r.Status = StatusName(r.ExitCode)
	r.Output, r.LongOutput, r.Perfdata = ParseOutput(out.String())
	if r.Output == "" {
		r.Output = "(no output)"
	}
	return r
}

// ParseOutput splits plugin output into the status line, the long output
// and the performance data (after '|' on the first line, and after '|' in
// the long output, as the Nagios plugin guidelines define).
func ParseOutput(s string) (status, long string, perf []Perf) {
	s = strings.TrimRight(s, "\n")
	first, rest, _ := strings.Cut(s, "\n")
	status, p1, _ := strings.Cut(first, "|")
	long, p2, _ := strings.Cut(rest, "|")
	perf = append(ParsePerfdata(p1), ParsePerfdata(p2)...)
	return strings.TrimSpace(status), strings.TrimSpace(long), perf
}

// ParsePerfdata parses space-separated 'label'=value[UOM];warn;crit;min;max
// items; malformed items are skipped.
func ParsePerfdata(s string) []Perf {
	var out []Perf
	for _, item := range splitPerf(s) {
		label, rest, ok := strings.Cut(item, "=")
		if !ok || label == "" {
			continue
		}
		label = strings.Trim(label, "'")
		fields := strings.Split(rest, ";")
		num := strings.TrimRightFunc(fields[0], func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			continue
		}
		p := Perf{Label: label, Value: v, UOM: fields[0][len(num):]}
		get := func(i int) string {
			if i < len(fields) {
				return fields[i]
			}
			return ""
		}
		p.Warn, p.Crit = get(1), get(2)
		if f, err := strconv.ParseFloat(get(3), 64); err == nil {
			p.Min = &f
		}
		if f, err := strconv.ParseFloat(get(4), 64); err == nil {
			p.Max = &f
		}
		out = append(out, p)
	}
	return out
}

// splitPerf splits on spaces outside single quotes.
func splitPerf(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case (r == ' ' || r == '\n' || r == '\t') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// limitWriter keeps the first n bytes and discards the rest, so a runaway
// plugin cannot exhaust the node's memory.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		if len(p) > room {
			l.w.Write(p[:room])
		} else {
			l.w.Write(p)
		}
	}
	return len(p), nil
}
