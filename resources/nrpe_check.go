package resources

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/zclconf/go-cty/cty"
)

// nrpeCheck is nrpe_check: a Nagios check defined on each target node must
// return an accepted exit code (by default only OK). Usually combined with
// retry { timeout, interval } to wait until a check passes.
func nrpeCheck() *Type {
	return &Type{
		Name:        "nrpe_check",
		Description: "Run an NRPE check command on the targets; success is an accepted Nagios exit code.",
		Agent:       "nrpe",
		Action:      "run",
		// Above NRPE's own check timeout (60 s by default), so that a hung
		// check comes back as UNKNOWN rather than as a silent node.
		CallTimeout: func(map[string]any) time.Duration { return 90 * time.Second },
		Args: []Arg{
			{Name: "command", Type: cty.String, Required: true, Description: "the check command defined on the nodes, e.g. check_load"},
			// No Default: NagiosCheck's (only 0, OK) is the one source.
			{Name: "ok_codes", Type: cty.List(cty.Number),
				Description: "exit codes that count as success: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; unset, only 0"},
		},
		Request: func(args map[string]any) (Request, error) {
			cmd, _ := args["command"].(string)
			if cmd == "" {
				return Request{}, fmt.Errorf("nrpe_check needs command")
			}
			return Request{Agent: "nrpe", Action: "run", Input: map[string]any{"command": cmd}}, nil
		},
		Check: func(args map[string]any, reply *fleet.Reply) error {
			var ok []int
			l, _ := args["ok_codes"].([]any)
			for _, v := range l {
				if f, isNum := v.(float64); isNum {
					ok = append(ok, int(f))
				}
			}
			return NagiosCheck(reply, ok...)
		},
	}
}

// NagiosCheck judges an nrpe run reply: nil when its exit code is one of
// okCodes (only 0, OK, when none are given), else an error with the Nagios
// status, the code and the check's status line.
func NagiosCheck(reply *fleet.Reply, okCodes ...int) error {
	var d struct {
		ExitCode int    `json:"exitcode"`
		Status   string `json:"status"`
		Output   string `json:"output"`
	}
	if err := json.Unmarshal(reply.Data, &d); err != nil {
		return fmt.Errorf("unreadable nrpe reply: %w", err)
	}
	if len(okCodes) == 0 {
		okCodes = []int{0}
	}
	if slices.Contains(okCodes, d.ExitCode) {
		return nil
	}
	return fmt.Errorf("%s (exit %d): %s", d.Status, d.ExitCode, d.Output)
}
