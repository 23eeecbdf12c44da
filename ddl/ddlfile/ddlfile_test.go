package ddlfile_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/ddl/ddlfile"
)

const motdJSON = `{
  "name": "motd", "version": "1.0.0",
  "actions": [
    {"name": "set", "mutates": true, "inputs": [
      {"name": "content", "type": "string", "required": true, "max_length": 4096},
      {"name": "mode", "type": "integer", "default": 420, "min": 0, "max": 511}
    ], "outputs": [{"name": "path", "type": "string"}]}
  ]
}`

const motdHCL = `
name    = "motd"
version = "1.0.0"
action "set" {
  mutates = true
  input "content" {
    type       = "string"
    required   = true
    max_length = 4096
  }
  input "mode" {
    type    = "integer"
    default = 420
    min     = 0
    max     = 511
  }
  output "path" { type = "string" }
}
`

func TestParseForms(t *testing.T) {
	j, err := ddlfile.Parse("motd.json", []byte(motdJSON))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ddlfile.Parse("motd.hcl", []byte(motdHCL))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(j, h) {
		t.Fatalf("JSON and HCL forms differ:\n%+v\n%+v", j.Actions[0], h.Actions[0])
	}
	in, _ := j.Actions[0].Input("mode")
	if in.Default != int64(420) {
		t.Fatalf("default %#v, want int64 420", in.Default)
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		file, src, want string
	}{
		"unknown JSON field":  {"a.json", `{"name":"a","version":"1","actions":[{"name":"x"}],"extra":1}`, `unknown field "extra"`},
		"bad agent name":      {"a.json", `{"name":"A-b","version":"1","actions":[{"name":"x"}]}`, `agent name "A-b"`},
		"no version":          {"a.json", `{"name":"a","actions":[{"name":"x"}]}`, "version must be set"},
		"no actions":          {"a.json", `{"name":"a","version":"1"}`, "declares 0 actions"},
		"duplicate action":    {"a.json", `{"name":"a","version":"1","actions":[{"name":"x"},{"name":"x"}]}`, "declared twice"},
		"unknown type":        {"a.json", `{"name":"a","version":"1","actions":[{"name":"x","inputs":[{"name":"i","type":"str"}]}]}`, `unknown type "str"`},
		"bad pattern":         {"a.json", `{"name":"a","version":"1","actions":[{"name":"x","inputs":[{"name":"i","type":"string","pattern":"("}]}]}`, "does not compile"},
		"enum on a number":    {"a.json", `{"name":"a","version":"1","actions":[{"name":"x","inputs":[{"name":"i","type":"integer","enum":["1"]}]}]}`, "enum applies to strings"},
		"default refused":     {"a.json", `{"name":"a","version":"1","actions":[{"name":"x","inputs":[{"name":"i","type":"integer","default":"two"}]}]}`, "default must be a number"},
		"HCL missing version": {"a.hcl", `name = "a"` + "\n" + `action "x" {}`, `"version" is required`},
		"other extension":     {"a.yaml", `name: a`, "ends in .json or .hcl"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ddlfile.Parse(tt.file, []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, []byte(strings.Repeat(" ", ddlfile.MaxSize+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ddlfile.Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err %v", err)
	}
}
