package external

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/runner"
	"github.com/orch-fleet/orch/rpc"
)

// ProtocolVersion is the version of Request and Reply.
const ProtocolVersion = 1

// Limits of one run of an external agent.
const (
	// DefaultTimeout bounds a run when Options.Timeout is 0; the request's
	// own deadline bounds it too.
	DefaultTimeout = time.Minute
	// MaxOutput caps the executable's stdout (its reply) and, separately,
	// its stderr: past it the run is killed and the request fails.
	MaxOutput = 256 << 10
)

// Request is what the executable reads on its standard input, as one JSON
// object.
type Request struct {
	Protocol  int            `json:"protocol"`   // ProtocolVersion
	Agent     string         `json:"agent"`      // the agent's name
	Action    string         `json:"action"`     // one of the schema's actions
	Input     map[string]any `json:"input"`      // validated against the schema, defaults filled in
	RequestID string         `json:"request_id"` // the id the audit log records
	Caller    string         `json:"caller"`     // the caller's name, e.g. ops@laptop
	CallerKey string         `json:"caller_key"` // the caller's public key
	Node      string         `json:"node"`       // the node's identity
	NoOp      bool           `json:"noop"`       // report what would change, change nothing
	TimeoutMS int64          `json:"timeout_ms"` // when the run will be killed, from its start
}

// Reply is what the executable writes on its standard output, as one JSON
// object. Status is one of ok, aborted, invalid_input, missing_input and
// error (fleet.Status names).
type Reply struct {
	Status  fleet.Status    `json:"status"`
	Message string          `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Changed bool            `json:"changed,omitempty"` // changed, or under noop would change, the node
}

// replyStatuses are the statuses an executable may reply with.
var replyStatuses = map[fleet.Status]bool{fleet.StatusOK: true, fleet.StatusAborted: true,
	fleet.StatusInvalidInput: true, fleet.StatusMissingInput: true, fleet.StatusInternalError: true}

// Agent is one external agent: an rpc.Handler that runs its executable.
type Agent struct {
	name    string
	dir     string
	exe     string
	schema  *ddl.Agent
	raw     json.RawMessage // the schema as compact JSON, as advertised
	node    string
	timeout time.Duration
}

// Schema returns the agent's schema, as read from its schema file.
func (a *Agent) Schema() *ddl.Agent { return a.schema }

// SchemaJSON returns the schema as compact JSON, as the node advertises it
// in the registry.
func (a *Agent) SchemaJSON() json.RawMessage { return a.raw }

// Dir is the agent's directory.
func (a *Agent) Dir() string { return a.dir }

// Handle runs the executable with the call as a Request and turns its
// Reply into the result. It returns when the run ends, at the latest when
// ctx is done or the agent's timeout passes: the process group is then
// killed.
func (a *Agent) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	timeout := a.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s.%s: the request expired before it ran", a.name, c.Action)
	}
	in, err := json.Marshal(Request{Protocol: ProtocolVersion, Agent: a.name, Action: c.Action, Input: c.Input,
		RequestID: c.RequestID, Caller: c.CallerName, CallerKey: c.CallerKey, Node: a.node, NoOp: c.NoOp, TimeoutMS: timeout.Milliseconds()})
	if err != nil {
		return nil, fleet.Errorf(fleet.StatusInternalError, "%s.%s: encoding the request: %v", a.name, c.Action, err)
	}
	res := runner.Run(ctx, runner.Cmd{Argv: []string{a.exe}, Dir: a.dir, Stdin: in, Timeout: timeout,
		Limit: MaxOutput, StopAtLimit: true, Env: a.env(c, timeout)})
	return a.result(c, res, timeout)
}

// MaxEnvValue is the longest input value also passed in the environment.
const MaxEnvValue = 32 << 10

// env is the executable's environment: runner.BaseEnv, the request's
// fields as ORCH_* variables, and each input as ORCH_INPUT_NAME (strings
// as they are, other values as JSON), for agents that read no JSON (shell).
// An input longer than MaxEnvValue, or holding a NUL, is on stdin only.
func (a *Agent) env(c *rpc.Call, timeout time.Duration) []string {
	env := slices.Concat(runner.BaseEnv, []string{
		"ORCH_PROTOCOL=" + strconv.Itoa(ProtocolVersion), "ORCH_AGENT=" + a.name, "ORCH_ACTION=" + c.Action,
		"ORCH_NODE=" + a.node, "ORCH_REQUEST_ID=" + c.RequestID, "ORCH_CALLER=" + c.CallerName,
		"ORCH_NOOP=" + strconv.FormatBool(c.NoOp), "ORCH_TIMEOUT_MS=" + strconv.FormatInt(timeout.Milliseconds(), 10),
	})
	for _, name := range slices.Sorted(maps.Keys(c.Input)) {
		v, ok := c.Input[name].(string)
		if !ok {
			b, err := json.Marshal(c.Input[name])
			if err != nil {
				continue
			}
			v = string(b)
		}
		if len(v) <= MaxEnvValue && !strings.ContainsRune(v, 0) {
			env = append(env, "ORCH_INPUT_"+strings.ToUpper(name)+"="+v)
		}
	}
	return env
}

// result judges one run: how it ended, then its reply.
func (a *Agent) result(c *rpc.Call, res runner.Result, timeout time.Duration) (*rpc.Result, error) {
	what := a.name + "." + c.Action
	switch {
	case res.TimedOut:
		return nil, fleet.Errorf(fleet.StatusAborted, "%s: timed out after %s; its process group was killed", what, timeout.Round(time.Millisecond))
	case res.Truncated:
		return nil, fleet.Errorf(fleet.StatusInternalError, "%s: the agent wrote more than %d bytes and was killed", what, MaxOutput)
	case res.Err != nil:
		return nil, fleet.Errorf(fleet.StatusInternalError, "%s: %v", what, res.Err)
	}
	r, err := parseReply([]byte(res.Stdout))
	if err != nil {
		msg := fmt.Sprintf("%s: exited %d without a valid reply (%v)", what, res.ExitCode, err)
		if tail := tailOf(res.Stderr); tail != "" {
			msg += "; stderr: " + tail
		}
		return nil, fleet.Errorf(fleet.StatusInternalError, "%s", msg)
	}
	if r.Status == fleet.StatusOK && res.ExitCode != 0 {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s: replied ok but exited %d: %s", what, res.ExitCode, r.Message)
	}
	if r.Status != fleet.StatusOK {
		return nil, fleet.Errorf(r.Status, "%s", r.Message)
	}
	out := &rpc.Result{Message: r.Message, Changed: r.Changed}
	if len(r.Data) > 0 {
		out.Data = r.Data
	}
	return out, nil
}

// parseReply decodes stdout: one JSON object with a known status.
func parseReply(b []byte) (*Reply, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("no output")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Reply
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("stdout is not a reply object: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("stdout holds more than one JSON value")
	}
	if !replyStatuses[r.Status] {
		return nil, fmt.Errorf("unknown status %q", r.Status)
	}
	return &r, nil
}

// tailOf is the last few lines of stderr, for messages.
func tailOf(stderr string) string {
	return runner.Result{Stderr: stderr}.Tail(3)
}

// Interface guard.
var _ rpc.Handler = (*Agent)(nil)
