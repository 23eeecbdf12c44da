// Package haproxy is the provider that takes servers in and out of an
// HAProxy load balancer through its runtime API (the stats socket): disable
// (maintenance), enable (ready), drain, and status parsed from `show stat`.
// Node identities map to server names one to one, or through a map in the
// node config.
package haproxy

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "haproxy", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

const namePattern = `^[A-Za-z0-9_.:-]+$`

func f(v float64) *float64 { return &v }

// Schema returns the haproxy agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

// actions declares the haproxy agent: each action's schema beside its
// handler.
func actions() *action.Table[*Handler] {
	backend := ddl.Input{Name: "backend", Type: ddl.String, Required: true, Pattern: namePattern, MaxLength: 128, Description: "the HAProxy backend, e.g. web"}
	servers := ddl.Input{Name: "servers", Type: ddl.List, Required: true, Pattern: namePattern, MaxLength: 1000,
		Description: "node identities (or server names) to act on; mapped to server names by the node config"}
	changeOut := []ddl.Output{
		{Name: "backend", Type: ddl.String},
		{Name: "changed", Type: ddl.List, Description: "servers whose state changed (or would, in no-op mode)"},
		{Name: "unchanged", Type: ddl.List, Description: "servers already in that state"},
		{Name: "servers", Type: ddl.Map, Description: "server -> state after the action (status, check_status, sessions)"},
	}
	return action.NewTable(ddl.Agent{
		Name:        "haproxy",
		Description: "Take servers in and out of an HAProxy load balancer through its runtime API.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "disable", Mutates: true, Description: "Put servers in maintenance (set server B/S state maint): no new or existing traffic.",
			Inputs: []ddl.Input{backend, servers}, Outputs: changeOut},
			(*Handler).disable),
		action.New(&ddl.Action{Name: "enable", Mutates: true, Description: "Put servers back in service (set server B/S state ready).",
			Inputs: []ddl.Input{backend, servers}, Outputs: changeOut},
			(*Handler).enable),
		action.New(&ddl.Action{Name: "drain", Mutates: true, Description: "Drain servers (set server B/S state drain): no new sessions; optionally wait until their sessions reach 0.",
			Inputs: []ddl.Input{backend, servers,
				{Name: "wait", Type: ddl.Boolean, Default: false, Description: "wait until the drained servers have no sessions"},
				{Name: "wait_timeout", Type: ddl.Number, Default: 60.0, Min: f(0), Max: f(3600), Description: "seconds to wait for sessions to reach 0"}},
			Outputs: changeOut},
			(*Handler).drain),
		action.New(&ddl.Action{Name: "status", Description: "The state of a backend's servers (show stat).",
			Inputs:  []ddl.Input{{Name: "backend", Type: ddl.String, Pattern: namePattern, MaxLength: 128, Description: "only this backend (default: all)"}},
			Outputs: []ddl.Output{{Name: "backends", Type: ddl.Map, Description: "backend -> server -> status, check_status, sessions, weight"}}},
			(*Handler).status),
	)
}

// changeInput is the input of disable and enable.
type changeInput struct {
	Backend string   `json:"backend"`
	Servers []string `json:"servers"`
}

// drainInput is the input of drain.
type drainInput struct {
	Backend     string   `json:"backend"`
	Servers     []string `json:"servers"`
	Wait        bool     `json:"wait"`
	WaitTimeout float64  `json:"wait_timeout"` // seconds
}

// statusInput is the input of status.
type statusInput struct {
	Backend string `json:"backend"` // "" for every backend
}

// config is the `provider "haproxy" { ... }` block.
type config struct {
	// Socket is the runtime API: a unix socket path or host:port.
	Socket string `hcl:"socket"`
	// Servers maps node identities to server names; unmapped names are
	// used as they are.
	Servers map[string]string `hcl:"servers,optional"`
	// Timeout bounds each runtime API command; default 5s.
	Timeout string `hcl:"timeout,optional"`
}

// New decodes the provider block.
func New(body hcl.Body, env providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if body == nil {
		return nil, providers.Invalid(body, "Missing haproxy settings", `provider "haproxy" needs socket = "/run/haproxy/admin.sock" (or "127.0.0.1:9999").`)
	}
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	h := &Handler{actions: actions(), socket: c.Socket, names: c.Servers, timeout: 5 * time.Second}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return nil, providers.Invalid(body, "Invalid haproxy timeout", "timeout %q is not a positive duration such as \"5s\".", c.Timeout)
		}
		h.timeout = d
	}
	return h, nil
}

// Handler serves the haproxy agent.
type Handler struct {
	actions *action.Table[*Handler]
	socket  string
	names   map[string]string
	timeout time.Duration
	mu      sync.Mutex // one change at a time, so before/after states are consistent
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Server is one server's state from show stat.
type Server struct {
	Status      string `json:"status"`       // UP, DOWN, MAINT, DRAIN, no check, ...
	CheckStatus string `json:"check_status"` // L4OK, L7OK, L4CON, ...
	Sessions    int    `json:"sessions"`     // current sessions
	Weight      int    `json:"weight"`
}

// Handle runs an action.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.actions.Handle(ctx, h, c)
}

func (h *Handler) status(ctx context.Context, _ *rpc.Call, in *statusInput) (*rpc.Result, error) {
	st, err := h.Stat(ctx)
	if err != nil {
		return nil, err
	}
	if in.Backend != "" {
		if _, ok := st[in.Backend]; !ok {
			return nil, fleet.Errorf(fleet.StatusInvalidInput, "HAProxy has no backend %q (backends: %s)", in.Backend, strings.Join(slices.Sorted(maps.Keys(st)), ", "))
		}
		st = map[string]map[string]Server{in.Backend: st[in.Backend]}
	}
	return &rpc.Result{Data: map[string]any{"backends": st}}, nil
}

func (h *Handler) disable(ctx context.Context, c *rpc.Call, in *changeInput) (*rpc.Result, error) {
	return h.change(ctx, c.NoOp, in, "maint", func(s Server) bool { return strings.HasPrefix(s.Status, "MAINT") }, nil)
}

func (h *Handler) enable(ctx context.Context, c *rpc.Call, in *changeInput) (*rpc.Result, error) {
	return h.change(ctx, c.NoOp, in, "ready", func(s Server) bool {
		return !strings.HasPrefix(s.Status, "MAINT") && !strings.HasPrefix(s.Status, "DRAIN")
	}, nil)
}

func (h *Handler) drain(ctx context.Context, c *rpc.Call, in *drainInput) (*rpc.Result, error) {
	var wait func(names []string) error
	if in.Wait && !c.NoOp {
		wait = func(names []string) error {
			return h.waitDrained(ctx, in.Backend, names, time.Duration(in.WaitTimeout*float64(time.Second)))
		}
	}
	return h.change(ctx, c.NoOp, &changeInput{Backend: in.Backend, Servers: in.Servers}, "drain",
		func(s Server) bool { return strings.HasPrefix(s.Status, "DRAIN") }, wait)
}

// change sets the servers' state unless done(state) says they are there,
// then, unless nil, calls wait with the servers' names.
func (h *Handler) change(ctx context.Context, noop bool, in *changeInput, state string, done func(Server) bool, wait func([]string) error) (*rpc.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	be, names := in.Backend, h.serverNames(in.Servers)
	st, err := h.Stat(ctx)
	if err != nil {
		return nil, err
	}
	servers, ok := st[be]
	if !ok {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "HAProxy has no backend %q (backends: %s)", be, strings.Join(slices.Sorted(maps.Keys(st)), ", "))
	}
	var unknown []string
	for _, n := range names {
		if _, ok := servers[n]; !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "backend %s has no server %s (servers: %s)", be, strings.Join(unknown, ", "), strings.Join(slices.Sorted(maps.Keys(servers)), ", "))
	}
	var changed, unchanged []string
	for _, n := range names {
		if done(servers[n]) {
			unchanged = append(unchanged, n)
			continue
		}
		changed = append(changed, n)
		if noop {
			continue
		}
		if err := h.setState(ctx, be, n, state); err != nil {
			return nil, err
		}
	}
	if wait != nil {
		if err := wait(names); err != nil {
			return nil, err
		}
	}
	after := st[be]
	if !noop && len(changed) > 0 {
		if st2, err := h.Stat(ctx); err == nil {
			after = st2[be]
		}
	}
	return changeResult(be, state, noop, names, changed, unchanged, after), nil
}

// serverNames maps node identities to server names through the node config.
func (h *Handler) serverNames(ids []string) []string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		if m, ok := h.names[id]; ok {
			id = m
		}
		names = append(names, id)
	}
	return names
}

// setState sets one server's state; HAProxy answers nothing when it did.
func (h *Handler) setState(ctx context.Context, be, server, state string) error {
	out, err := h.Command(ctx, fmt.Sprintf("set server %s/%s state %s", be, server, state))
	if err != nil {
		return err
	}
	if out = strings.TrimSpace(out); out != "" {
		return fleet.Errorf(fleet.StatusAborted, "set server %s/%s state %s: %s", be, server, state, out)
	}
	return nil
}

// changeResult is the reply of disable, enable and drain.
func changeResult(be, state string, noop bool, names, changed, unchanged []string, after map[string]Server) *rpc.Result {
	view := map[string]any{}
	for _, n := range names {
		view[n] = after[n]
	}
	verb := map[string]string{"maint": "disabled", "ready": "enabled", "drain": "draining"}[state]
	msg := fmt.Sprintf("%s: %s %s", be, verb, strings.Join(changed, ", "))
	if noop {
		msg = fmt.Sprintf("%s: would set %s to %s", be, strings.Join(changed, ", "), state)
	}
	if len(changed) == 0 {
		msg = fmt.Sprintf("%s: %s already %s", be, strings.Join(unchanged, ", "), verb)
	}
	return &rpc.Result{Changed: len(changed) > 0, Message: msg, Data: map[string]any{
		"backend": be, "changed": orEmpty(changed), "unchanged": orEmpty(unchanged), "servers": view,
	}}
}

// waitDrained polls until the servers have no sessions.
func (h *Handler) waitDrained(ctx context.Context, be string, names []string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		st, err := h.Stat(ctx)
		if err != nil {
			return err
		}
		var busy []string
		for _, n := range names {
			if s := st[be][n]; s.Sessions > 0 {
				busy = append(busy, fmt.Sprintf("%s (%d sessions)", n, s.Sessions))
			}
		}
		if len(busy) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fleet.Errorf(fleet.StatusAborted, "still busy after %s: %s", limit, strings.Join(busy, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stat returns backend -> server -> state, from `show stat`.
func (h *Handler) Stat(ctx context.Context) (map[string]map[string]Server, error) {
	out, err := h.Command(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	return ParseStat(out)
}

// ParseStat parses the CSV of `show stat` (its header names the columns).
func ParseStat(out string) (map[string]map[string]Server, error) {
	out = strings.TrimPrefix(strings.TrimLeft(out, " \n"), "# ")
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parsing show stat: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("show stat returned nothing")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, need := range []string{"pxname", "svname", "status", "scur"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("show stat has no %s column", need)
		}
	}
	get := func(row []string, name string) string {
		if i, ok := col[name]; ok && i < len(row) {
			return row[i]
		}
		return ""
	}
	st := map[string]map[string]Server{}
	for _, row := range rows[1:] {
		px, sv := get(row, "pxname"), get(row, "svname")
		if px == "" || sv == "FRONTEND" || sv == "BACKEND" {
			continue
		}
		if st[px] == nil {
			st[px] = map[string]Server{}
		}
		scur, _ := strconv.Atoi(get(row, "scur"))
		weight, _ := strconv.Atoi(get(row, "weight"))
		st[px][sv] = Server{Status: get(row, "status"), CheckStatus: strings.TrimPrefix(get(row, "check_status"), "* "), Sessions: scur, Weight: weight}
	}
	return st, nil
}

// Command sends one runtime API command and returns HAProxy's answer.
func (h *Handler) Command(ctx context.Context, cmd string) (string, error) {
	network := "unix"
	if !strings.Contains(h.socket, "/") {
		network = "tcp"
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, h.socket)
	if err != nil {
		return "", fleet.Errorf(fleet.StatusAborted, "cannot reach the HAProxy runtime API at %s: %v", h.socket, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fleet.Errorf(fleet.StatusAborted, "sending %q to HAProxy: %v", cmd, err)
	}
	var b strings.Builder
	if _, err := io.Copy(&b, bufio.NewReader(conn)); err != nil {
		return "", fleet.Errorf(fleet.StatusAborted, "reading HAProxy's answer to %q: %v", cmd, err)
	}
	return b.String(), nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
