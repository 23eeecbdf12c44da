package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

func (h *Handler) status(ctx context.Context, _ *rpc.Call, in *unitInput) (*rpc.Result, error) {
	u, err := h.show(ctx, in.Unit)
	if err != nil {
		return nil, err
	}
	return &rpc.Result{Message: fmt.Sprintf("%s: %s (%s), %s", u.ID, u.ActiveState, u.SubState, u.UnitFileState), Data: u.data()}, nil
}

// transition is one of start, stop, restart and reload: the systemctl verb,
// what it is called in messages, and when it has nothing to do.
type transition struct {
	verb, done string
	// satisfied reports that the unit is already as the verb would leave
	// it; nil: the verb always changes the unit.
	satisfied func(Unit) bool
	// refuse returns why the verb cannot apply to the unit, "" if it can.
	refuse func(Unit) string
}

var (
	startT   = transition{verb: "start", done: "started", satisfied: func(u Unit) bool { return u.ActiveState == "active" || u.ActiveState == "reloading" }}
	stopT    = transition{verb: "stop", done: "stopped", satisfied: func(u Unit) bool { return u.ActiveState == "inactive" || u.ActiveState == "failed" }}
	restartT = transition{verb: "restart", done: "restarted"}
	reloadT  = transition{verb: "reload", done: "reloaded", refuse: func(u Unit) string {
		if u.ActiveState != "active" {
			return fmt.Sprintf("cannot reload %s: it is %s, not active", u.ID, u.ActiveState)
		}
		return ""
	}}
)

func (h *Handler) start(ctx context.Context, c *rpc.Call, in *unitInput) (*rpc.Result, error) {
	return h.apply(ctx, c.NoOp, in.Unit, startT)
}

func (h *Handler) stop(ctx context.Context, c *rpc.Call, in *unitInput) (*rpc.Result, error) {
	return h.apply(ctx, c.NoOp, in.Unit, stopT)
}

func (h *Handler) restart(ctx context.Context, c *rpc.Call, in *unitInput) (*rpc.Result, error) {
	return h.apply(ctx, c.NoOp, in.Unit, restartT)
}

func (h *Handler) reload(ctx context.Context, c *rpc.Call, in *unitInput) (*rpc.Result, error) {
	return h.apply(ctx, c.NoOp, in.Unit, reloadT)
}

// apply runs one transition: nothing when the unit is already there, a
// report under no-op, else systemctl VERB and the state it left.
func (h *Handler) apply(ctx context.Context, noop bool, unit string, t transition) (*rpc.Result, error) {
	u, err := h.show(ctx, unit)
	if err != nil {
		return nil, err
	}
	if u.LoadState == "masked" && t.verb != "stop" {
		return nil, fleet.Errorf(fleet.StatusAborted, "cannot %s %s: it is masked", t.verb, u.ID)
	}
	if t.satisfied != nil && t.satisfied(u) {
		return &rpc.Result{Message: fmt.Sprintf("%s already %s (%s)", u.ID, u.ActiveState, u.SubState), Data: u.data()}, nil
	}
	if t.refuse != nil {
		if why := t.refuse(u); why != "" {
			return nil, fleet.Errorf(fleet.StatusAborted, "%s", why)
		}
	}
	if noop {
		return &rpc.Result{Changed: true, Message: fmt.Sprintf("would %s %s (now %s)", t.verb, u.ID, u.ActiveState), Data: u.data()}, nil
	}
	if _, err := h.run(ctx, []string{t.verb, "--", unit}); err != nil {
		return nil, err
	}
	after, err := h.show(ctx, unit)
	if err != nil {
		return nil, err
	}
	if after.ActiveState == "failed" {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s %s but it is failed (%s); see journalctl -u %s", t.done, after.ID, after.SubState, after.ID)
	}
	return &rpc.Result{Changed: true, Message: fmt.Sprintf("%s %s: now %s (%s)", t.done, after.ID, after.ActiveState, after.SubState), Data: after.data()}, nil
}

// enabledStates are the is-enabled answers under which enable has nothing
// to do: the unit is enabled, or it cannot be enabled by itself (static,
// indirect, generated, transient and alias units start through others).
var enabledStates = []string{"enabled", "enabled-runtime", "static", "indirect", "generated", "transient", "alias"}

// isEnabled runs systemctl is-enabled, which works without a running
// systemd; an unknown unit is invalid_input.
func (h *Handler) isEnabled(ctx context.Context, unit string) (string, error) {
	r, err := h.run(ctx, []string{"is-enabled", "--", unit}, 1)
	if err != nil {
		return "", err
	}
	state, _, _ := strings.Cut(strings.TrimSpace(r.Stdout), "\n")
	if state == "" {
		return "", fleet.Errorf(fleet.StatusInvalidInput, "no unit %s on this node (%s)", unit, oneLine(r.Stderr))
	}
	return state, nil
}

func (h *Handler) enable(ctx context.Context, c *rpc.Call, in *unitInput) (*rpc.Result, error) {
	return h.setEnabled(ctx, c.NoOp, in.Unit, true)
}

func (h *Handler) disable(ctx context.Context, c *rpc.Call, in *unitInput) (*rpc.Result, error) {
	return h.setEnabled(ctx, c.NoOp, in.Unit, false)
}

// setEnabled enables or disables the unit unless it already is.
func (h *Handler) setEnabled(ctx context.Context, noop bool, unit string, enable bool) (*rpc.Result, error) {
	verb := map[bool]string{true: "enable", false: "disable"}[enable]
	state, err := h.isEnabled(ctx, unit)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(state, "masked") {
		return nil, fleet.Errorf(fleet.StatusAborted, "cannot %s %s: it is %s", verb, unit, state)
	}
	done := state != "enabled" // disable acts on enabled units only
	if enable {
		done = slices.Contains(enabledStates, state)
	}
	if done {
		return &rpc.Result{Message: fmt.Sprintf("%s already %s", unit, state), Data: map[string]any{"unit": unit, "enabled": state}}, nil
	}
	if noop {
		return &rpc.Result{Changed: true, Message: fmt.Sprintf("would %s %s (now %s)", verb, unit, state), Data: map[string]any{"unit": unit, "enabled": state}}, nil
	}
	if _, err := h.run(ctx, []string{verb, "--", unit}); err != nil {
		return nil, err
	}
	after, err := h.isEnabled(ctx, unit)
	if err != nil {
		return nil, err
	}
	return &rpc.Result{Changed: true, Message: fmt.Sprintf("%sd %s: now %s", verb, unit, after), Data: map[string]any{"unit": unit, "enabled": after}}, nil
}
