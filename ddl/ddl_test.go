package ddl_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/ddl"
)

func f(v float64) *float64 { return &v }

var deploy = &ddl.Action{
	Name: "deploy",
	Inputs: []ddl.Input{
		{Name: "app", Type: ddl.String, Required: true, Pattern: `^[a-z][a-z0-9_-]*$`, MaxLength: 32},
		{Name: "batch", Type: ddl.Integer, Default: int64(1), Min: f(1), Max: f(10)},
		{Name: "ratio", Type: ddl.Number},
		{Name: "force", Type: ddl.Boolean},
		{Name: "priority", Type: ddl.String, Enum: []string{"low", "normal", "high"}},
		{Name: "servers", Type: ddl.List, MaxLength: 3},
		{Name: "env", Type: ddl.Map},
	},
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]any
		want    string // fmt of the result, or "" when an error is expected
		missing bool
		errText string
	}{
		{"defaults filled", map[string]any{"app": "web"}, "map[app:web batch:1]", false, ""},
		{"json integer", map[string]any{"app": "web", "batch": float64(3)}, "map[app:web batch:3]", false, ""},
		{"missing", map[string]any{}, "", true, `missing required input "app"`},
		{"unknown input", map[string]any{"app": "web", "colour": "red"}, "", false, "unknown input"},
		{"pattern", map[string]any{"app": "--upload-pack=x"}, "", false, "app"},
		{"too long", map[string]any{"app": "abcdefghijklmnopqrstuvwxyzabcdefghij"}, "", false, "app"},
		{"not integer", map[string]any{"app": "web", "batch": 2.5}, "", false, "batch"},
		{"below min", map[string]any{"app": "web", "batch": float64(0)}, "", false, "batch"},
		{"above max", map[string]any{"app": "web", "batch": float64(11)}, "", false, "batch"},
		{"wrong type", map[string]any{"app": "web", "force": "yes"}, "", false, "force"},
		{"enum", map[string]any{"app": "web", "priority": "urgent"}, "", false, "priority"},
		{"enum ok", map[string]any{"app": "web", "priority": "high"}, "map[app:web batch:1 priority:high]", false, ""},
		{"list too long", map[string]any{"app": "web", "servers": []any{"a", "b", "c", "d"}}, "", false, "servers"},
		{"map", map[string]any{"app": "web", "env": map[string]any{"A": "1"}}, "map[app:web batch:1 env:map[A:1]]", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deploy.Validate(tt.in)
			if tt.want != "" {
				if err != nil || fmt.Sprint(got) != tt.want {
					t.Fatalf("got %v, %v; want %s", got, err, tt.want)
				}
				return
			}
			var de *ddl.Error
			if !errors.As(err, &de) {
				t.Fatalf("want *ddl.Error, got %v", err)
			}
			if de.Missing != tt.missing {
				t.Errorf("Missing = %v", de.Missing)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q lacks %q", err, tt.errText)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	got, err := deploy.ParseArgs([]string{"app=web", "batch=2", "ratio=0.5", "force=true", "servers=web1,web2", `env={"A":"1"}`})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[app:web batch:2 env:map[A:1] force:true ratio:0.5 servers:[web1 web2]]" {
		t.Fatalf("got %v", got)
	}
	if _, err := deploy.Validate(got); err != nil {
		t.Fatalf("parsed args do not validate: %v", err)
	}
	for _, bad := range []string{"batch=two", "force=maybe", "noequals", "colour=red", "env=[1]"} {
		if _, err := deploy.ParseArgs([]string{bad}); err == nil {
			t.Errorf("%s: want error", bad)
		}
	}
}
