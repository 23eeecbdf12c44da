package fleetops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/ddl/ddlfile"
	"github.com/orch-fleet/orch/fleet"
)

// Schemas is where a client finds an agent's schema, in this order: the
// agents built into orch, schema files beside a playbook (AddLocal), and
// the schemas nodes advertise for their external agents in the registry
// (AddFleet). Not safe for concurrent use while adding.
type Schemas struct {
	builtin func(string) *ddl.Agent
	local   map[string]*ddl.Agent
	fleet   map[string]*ddl.Agent
	raw     map[string][]byte
	differ  map[string]bool
}

// NewSchemas returns a source that knows the agents builtin knows (nil:
// none).
func NewSchemas(builtin func(string) *ddl.Agent) *Schemas {
	return &Schemas{builtin: builtin, local: map[string]*ddl.Agent{}, fleet: map[string]*ddl.Agent{}, raw: map[string][]byte{}, differ: map[string]bool{}}
}

// AddLocal adds schemas read from files.
func (s *Schemas) AddLocal(agents ...*ddl.Agent) {
	for _, a := range agents {
		s.local[a.Name] = a
	}
}

// AddFleet adds the schemas the nodes advertise. An agent whose nodes
// advertise different schemas (a new version rolling out) has none: the
// nodes judge its requests. A schema that is not valid is ignored.
func (s *Schemas) AddFleet(nodes []fleet.NodeInfo) {
	for _, n := range nodes {
		for name, raw := range n.Schemas {
			if prev, seen := s.raw[name]; seen {
				if !bytes.Equal(prev, raw) {
					s.differ[name] = true
				}
				continue
			}
			s.raw[name] = raw
			var a ddl.Agent
			if json.Unmarshal(raw, &a) != nil || ddlfile.Check(&a) != nil || a.Name != name {
				s.differ[name] = true
				continue
			}
			s.fleet[name] = &a
		}
	}
}

// Lookup returns the schema of agent, nil when it is unknown.
func (s *Schemas) Lookup(agent string) *ddl.Agent {
	if s.builtin != nil {
		if a := s.builtin(agent); a != nil {
			return a
		}
	}
	if a, ok := s.local[agent]; ok {
		return a
	}
	if s.differ[agent] {
		return nil
	}
	return s.fleet[agent]
}

// Fleet returns the names of the agents whose schemas the fleet
// advertised, sorted; Differ those whose nodes disagree.
func (s *Schemas) Fleet() []string { return sortedNames(s.raw) }

// Differ returns the agents whose nodes advertise different schemas,
// sorted.
func (s *Schemas) Differ() []string { return sortedNames(s.differ) }

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LocalAgentsDir is the directory beside a playbook whose schema files
// declare resource types for external agents: agents.d/NAME/schema.json
// (or .hcl), laid out like a node's agents directory.
const LocalAgentsDir = "agents.d"

// LoadSchemaDir reads dir/NAME/schema.json or schema.hcl for every NAME
// in dir, sorted by name; a dir that does not exist holds none. A schema
// must name the agent after its directory.
func LoadSchemaDir(dir string) ([]*ddl.Agent, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []*ddl.Agent
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		var found []*ddl.Agent
		for _, ext := range ddlfile.Extensions() {
			path := filepath.Join(dir, e.Name(), "schema"+ext)
			a, err := ddlfile.Load(path)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				errs = append(errs, err)
			case a.Name != e.Name():
				errs = append(errs, fmt.Errorf("%s names the agent %q, not %q (its directory's name)", path, a.Name, e.Name()))
			default:
				found = append(found, a)
			}
		}
		if len(found) > 1 {
			errs = append(errs, fmt.Errorf("%s: both schema.json and schema.hcl: keep one", filepath.Join(dir, e.Name())))
			continue
		}
		out = append(out, found...)
	}
	return out, errors.Join(errs...)
}
