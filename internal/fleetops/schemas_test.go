package fleetops_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleetops"
)

func TestSchemasLookup(t *testing.T) {
	v1 := json.RawMessage(`{"name":"motd","version":"1","actions":[{"name":"set"}]}`)
	v2 := json.RawMessage(`{"name":"motd","version":"2","actions":[{"name":"set"}]}`)
	bad := json.RawMessage(`{"name":"other","version":"1","actions":[{"name":"x"}]}`)
	node := func(schemas map[string]json.RawMessage) fleet.NodeInfo { return fleet.NodeInfo{Schemas: schemas} }
	builtin := func(name string) *ddl.Agent {
		if name == "rpcutil" {
			return &ddl.Agent{Name: "rpcutil", Version: "builtin"}
		}
		return nil
	}
	tests := map[string]struct {
		nodes []fleet.NodeInfo
		local *ddl.Agent
		agent string
		want  string // version, "" = none
	}{
		"built-in first":          {nodes: []fleet.NodeInfo{node(map[string]json.RawMessage{"rpcutil": v1})}, agent: "rpcutil", want: "builtin"},
		"advertised":              {nodes: []fleet.NodeInfo{node(map[string]json.RawMessage{"motd": v1}), node(map[string]json.RawMessage{"motd": v1})}, agent: "motd", want: "1"},
		"nodes disagree":          {nodes: []fleet.NodeInfo{node(map[string]json.RawMessage{"motd": v1}), node(map[string]json.RawMessage{"motd": v2})}, agent: "motd"},
		"local before fleet":      {nodes: []fleet.NodeInfo{node(map[string]json.RawMessage{"motd": v1})}, local: &ddl.Agent{Name: "motd", Version: "local"}, agent: "motd", want: "local"},
		"named after another":     {nodes: []fleet.NodeInfo{node(map[string]json.RawMessage{"motd": bad})}, agent: "motd"},
		"not a schema":            {nodes: []fleet.NodeInfo{node(map[string]json.RawMessage{"motd": json.RawMessage(`[1]`)})}, agent: "motd"},
		"unknown":                 {agent: "nope"},
		"nobody advertises it":    {nodes: []fleet.NodeInfo{node(nil)}, agent: "motd"},
		"later nodes cannot lift": {nodes: []fleet.NodeInfo{node(map[string]json.RawMessage{"motd": bad}), node(map[string]json.RawMessage{"motd": v1})}, agent: "motd"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := fleetops.NewSchemas(builtin)
			if tt.local != nil {
				s.AddLocal(tt.local)
			}
			s.AddFleet(tt.nodes)
			got := ""
			if a := s.Lookup(tt.agent); a != nil {
				got = a.Version
			}
			if got != tt.want {
				t.Fatalf("Lookup(%s) = version %q, want %q", tt.agent, got, tt.want)
			}
		})
	}
}

func TestLoadSchemaDir(t *testing.T) {
	agents, err := fleetops.LoadSchemaDir(filepath.Join("..", "..", "examples", "agents", "agents.d"))
	if err != nil || len(agents) != 2 || agents[0].Name != "ini" || agents[1].Name != "motd" {
		t.Fatalf("examples: %v, %v", agents, err)
	}
	if got, err := fleetops.LoadSchemaDir(filepath.Join(t.TempDir(), "none")); got != nil || err != nil {
		t.Fatalf("missing dir: %v, %v", got, err)
	}
	dir := t.TempDir()
	for path, src := range map[string]string{
		"a/schema.json": `{"name":"b","version":"1","actions":[{"name":"x"}]}`,
		"c/schema.json": `{"name":"c","version":"1","actions":[{"name":"x"}]}`,
		"c/schema.hcl":  "name = \"c\"\nversion = \"1\"\naction \"x\" {}\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = fleetops.LoadSchemaDir(dir)
	for _, want := range []string{`names the agent "b", not "a"`, "both schema.json and schema.hcl"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want %q", err, want)
		}
	}
}
