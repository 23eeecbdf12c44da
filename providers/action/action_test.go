package action_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// greeter is a test provider: greet(name, times, loud) and ping().
type greeter struct{ node string }

type greetInput struct {
	Name  string `json:"name"`
	Times int    `json:"times"`
	Loud  bool   `json:"loud"`
}

func (g *greeter) greet(_ context.Context, _ *rpc.Call, in *greetInput) (*rpc.Result, error) {
	msg := strings.Repeat("hello "+in.Name+" ", in.Times)
	if in.Loud {
		msg = strings.ToUpper(msg)
	}
	return &rpc.Result{Message: strings.TrimSpace(msg)}, nil
}

func (g *greeter) ping(context.Context, *rpc.Call, *action.None) (*rpc.Result, error) {
	return &rpc.Result{Message: "pong from " + g.node}, nil
}

var greetSchema = ddl.Action{Name: "greet", Inputs: []ddl.Input{
	{Name: "name", Type: ddl.String, Required: true},
	{Name: "times", Type: ddl.Integer, Default: int64(2)},
	{Name: "loud", Type: ddl.Boolean, Default: false},
}}

func table() *action.Table[*greeter] {
	greet := greetSchema
	return action.NewTable(ddl.Agent{Name: "greeter", Version: "1"},
		action.New(&greet, (*greeter).greet),
		action.New(&ddl.Action{Name: "ping"}, (*greeter).ping),
	)
}

func TestHandle(t *testing.T) {
	tests := map[string]struct {
		action   string
		input    map[string]any
		want     string
		wantCode fleet.Status
		wantErr  string
	}{
		"schema default filled in": {action: "greet", input: map[string]any{"name": "ann"}, want: "hello ann hello ann"},
		"given input wins":         {action: "greet", input: map[string]any{"name": "bo", "times": int64(1), "loud": true}, want: "HELLO BO"},
		"no inputs":                {action: "ping", want: "pong from n1"},
		"unknown action":           {action: "wave", wantCode: fleet.StatusUnknownAction, wantErr: `greeter has no action "wave"`},
		"input of the wrong type":  {action: "greet", input: map[string]any{"name": 7}, wantCode: fleet.StatusInvalidInput, wantErr: `greet: input "name" must be a string, got number`},
		"input the handler lacks":  {action: "ping", input: map[string]any{"x": 1}, wantCode: fleet.StatusInvalidInput, wantErr: `unknown field "x"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := table().Handle(context.Background(), &greeter{node: "n1"}, &rpc.Call{Action: tt.action, Input: tt.input})
			if tt.wantErr != "" {
				var se *fleet.StatusError
				if !errors.As(err, &se) || se.Status != tt.wantCode || !strings.Contains(se.Message, tt.wantErr) {
					t.Fatalf("err %v, want %s containing %q", err, tt.wantCode, tt.wantErr)
				}
				return
			}
			if err != nil || res.Message != tt.want {
				t.Fatalf("got %+v, %v; want %q", res, err, tt.want)
			}
		})
	}
}

func TestSchemaAndHandled(t *testing.T) {
	tb := table()
	if got, want := fmt.Sprint(tb.Schema().ActionNames()), fmt.Sprint(tb.Handled()); got != want || got != "[greet ping]" {
		t.Fatalf("schema actions %s, handled %s", got, want)
	}
	if err := tb.Check(); err != nil {
		t.Fatal(err)
	}
}

// wrongInput does not match greet's schema: no loud, an extra field, and
// times of the wrong type.
type wrongInput struct {
	Name  string `json:"name"`
	Times string `json:"times"`
	Extra string `json:"extra"`
}

func wrong(*greeter, context.Context, *rpc.Call, *wrongInput) (*rpc.Result, error) { return nil, nil }

func TestCheck(t *testing.T) {
	greet := greetSchema
	badDefault := ddl.Action{Name: "greet", Inputs: []ddl.Input{{Name: "name", Type: ddl.String}, {Name: "times", Type: ddl.Integer, Default: "two"}, {Name: "loud", Type: ddl.Boolean}}}
	tests := map[string]struct {
		actions []action.Action[*greeter]
		want    []string
	}{
		"input struct disagrees with the schema": {
			actions: []action.Action[*greeter]{action.New(&greet, wrong)},
			want:    []string{`schema input "loud" has no field`, `field "extra" of action_test.wrongInput is not a schema input`, `input "times" is integer in the schema but string`},
		},
		"schema default of the wrong type": {
			actions: []action.Action[*greeter]{action.New(&badDefault, (*greeter).greet)},
			want:    []string{"greeter.greet: schema defaults do not decode"},
		},
		"no handler": {
			actions: []action.Action[*greeter]{action.New[*greeter, action.None](&ddl.Action{Name: "ping"}, nil)},
			want:    []string{"greeter.ping: no handler"},
		},
		"declared twice": {
			actions: []action.Action[*greeter]{action.New(&ddl.Action{Name: "ping"}, (*greeter).ping), action.New(&ddl.Action{Name: "ping"}, (*greeter).ping)},
			want:    []string{"greeter.ping: declared twice"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := action.NewTable(ddl.Agent{Name: "greeter"}, tt.actions...).Check()
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Check() = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
