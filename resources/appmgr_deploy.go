package resources

import (
	"fmt"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// appmgrDeploy is appmgr_deploy: the app at a revision on each target node.
// Typically used with batch_size so that only a few nodes restart at once.
func appmgrDeploy() *Type {
	return &Type{
		Name:        "appmgr_deploy",
		Description: "Deploy an application revision from git on the targets (atomic release switch, restart, health check, rollback on failure).",
		Agent:       "appmgr",
		Action:      "deploy",
		// Fetch, build, restart and health check each get up to appmgr's
		// command_timeout (5 m by default).
		CallTimeout: func(map[string]any) time.Duration { return 20 * time.Minute },
		Args: []Arg{
			{Name: "app", Type: cty.String, Required: true, Description: "the application, as declared in the nodes' appmgr config"},
			{Name: "revision", Type: cty.String, Required: true, Description: "branch, tag or commit to deploy"},
		},
		Request: func(a map[string]any) (Request, error) {
			app, _ := a["app"].(string)
			rev, _ := a["revision"].(string)
			if app == "" || rev == "" {
				return Request{}, fmt.Errorf("appmgr_deploy needs app and revision")
			}
			return Request{Agent: "appmgr", Action: "deploy", Input: map[string]any{"app": app, "revision": rev}}, nil
		},
	}
}
