package resources

import (
	"fmt"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// execRun is exec_run: a command defined in the node config has run on
// each target, unless a guard (creates, unless, onlyif) says there is
// nothing to do — Puppet's exec.
func execRun() *Type {
	return &Type{
		Name:        "exec_run",
		Description: "Run a command defined on the targets (exec provider), unless its guards say it has nothing to do.",
		Agent:       "exec",
		Action:      "run",
		// Above the exec provider's default command timeout (5 m); a node
		// that allows longer commands needs the resource's own timeout.
		CallTimeout: func(map[string]any) time.Duration { return 6 * time.Minute },
		Args: []Arg{
			{Name: "command", Type: cty.String, Required: true, Description: "the command's name in the nodes' exec config"},
			{Name: "creates", Type: cty.String, Description: "an absolute path: skip the command where it exists"},
			{Name: "unless", Type: cty.String, Description: "another defined command: skip where it succeeds"},
		},
		Request: func(a map[string]any) (Request, error) {
			cmd, _ := a["command"].(string)
			if cmd == "" {
				return Request{}, fmt.Errorf("exec_run needs command")
			}
			in := map[string]any{"command": cmd}
			for _, k := range []string{"creates", "unless"} {
				if v, ok := a[k].(string); ok && v != "" {
					in[k] = v
				}
			}
			return Request{Agent: "exec", Action: "run", Input: in}, nil
		},
	}
}
