package exec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/runner"
	"github.com/orch-fleet/orch/rpc"
)

// runInput is the input of run.
type runInput struct {
	Command string `json:"command"`
	Creates string `json:"creates"`
	Unless  string `json:"unless"`
}

func (h *Handler) run(ctx context.Context, c *rpc.Call, in *runInput) (*rpc.Result, error) {
	cmd, err := h.lookup(in.Command)
	if err != nil {
		return nil, err
	}
	var unless *Command
	if in.Unless != "" {
		if unless, err = h.lookup(in.Unless); err != nil {
			return nil, err
		}
	}
	reason, err := h.guard(ctx, cmd, in.Creates, unless)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"command": in.Command, "ran": false, "reason": reason, "exitcode": -1, "stdout": "", "stderr": "", "truncated": false, "elapsed_ms": 0.0}
	if reason != "" {
		return &rpc.Result{Message: fmt.Sprintf("%s: nothing to do: %s", in.Command, reason), Data: data}, nil
	}
	if c.NoOp {
		data["ran"], data["reason"] = true, "no guard holds"
		return &rpc.Result{Changed: true, Message: "would run " + in.Command, Data: data}, nil
	}
	r := runner.Run(ctx, runner.Cmd{Argv: cmd.Argv, Env: cmd.Env, Dir: cmd.Dir, Timeout: cmd.Timeout, Limit: h.limit})
	if r.Err != nil {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s: %v%s", in.Command, r.Err, tail(r))
	}
	if !slices.Contains(cmd.Returns, r.ExitCode) {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s: exit %d (accepted: %v)%s", in.Command, r.ExitCode, cmd.Returns, tail(r))
	}
	data["ran"], data["exitcode"], data["stdout"], data["stderr"] = true, r.ExitCode, r.Stdout, r.Stderr
	data["truncated"], data["elapsed_ms"] = r.Truncated, float64(r.Elapsed.Microseconds())/1000
	return &rpc.Result{Changed: true, Message: fmt.Sprintf("ran %s: exit %d", in.Command, r.ExitCode), Data: data}, nil
}

// tail is the end of a command's output, for error messages.
func tail(r runner.Result) string {
	if t := r.Tail(3); t != "" {
		return ": " + strings.Join(strings.Fields(t), " ")
	}
	return ""
}

// guardCmd is an unless or onlyif command: done when its exit code is 0
// (unless) or is not (onlyif).
type guardCmd struct {
	what    string
	argv    []string
	skipIf0 bool
}

// guard says why cmd has nothing to do ("" when it must run): a creates
// path exists, an unless command succeeds, or an onlyif command fails.
// Guards run also under no-op: they must only look, never change.
func (h *Handler) guard(ctx context.Context, cmd *Command, creates string, unless *Command) (string, error) {
	for _, p := range []string{cmd.Creates, creates} {
		if p == "" {
			continue
		}
		_, err := os.Lstat(p)
		if err == nil {
			return p + " exists", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fleet.Errorf(fleet.StatusAborted, "creates %s: %v", p, err)
		}
	}
	checks := []guardCmd{{"unless", cmd.Unless, true}, {"onlyif", cmd.OnlyIf, false}}
	if unless != nil {
		checks = append(checks, guardCmd{"unless", unless.Argv, true})
	}
	for _, g := range checks {
		if len(g.argv) == 0 {
			continue
		}
		r := runner.Run(ctx, runner.Cmd{Argv: g.argv, Env: cmd.Env, Dir: cmd.Dir, Timeout: cmd.Timeout, Limit: h.limit})
		if r.Err != nil {
			return "", fleet.Errorf(fleet.StatusAborted, "%s guard %s: %v", g.what, g.argv[0], r.Err)
		}
		if (r.ExitCode == 0) == g.skipIf0 {
			return fmt.Sprintf("%s guard %s exited %d", g.what, strings.Join(g.argv, " "), r.ExitCode), nil
		}
	}
	return "", nil
}
