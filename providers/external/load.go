package external

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"time"

	"github.com/orch-fleet/orch/ddl/ddlfile"
)

// DefaultDir is where a node looks for external agents unless its config
// says otherwise.
const DefaultDir = "/etc/orch/agents.d"

// Limits on what Load reads and a node advertises.
const (
	// MaxAgents is the most external agents a node serves.
	MaxAgents = 64
	// MaxAdvertised caps the schemas of all of a node's external agents
	// together, as compact JSON: they travel in its registry entry.
	MaxAdvertised = 256 << 10
)

// Options configure Load.
type Options struct {
	// Node is the node's identity, passed to the executables.
	Node string
	// Timeout bounds each run; 0 = DefaultTimeout.
	Timeout time.Duration
	// Reserved are names an external agent may not take: the node's
	// built-in agents.
	Reserved []string
	// Owners are the user ids that may own the files besides root; nil =
	// the user the node runs as.
	Owners []int
}

// Set is the external agents Load found; it does not change once loaded.
type Set struct {
	agents map[string]*Agent
}

// Agents returns the agents by name. Callers must not modify the map.
func (s *Set) Agents() map[string]*Agent {
	if s == nil {
		return nil
	}
	return s.agents
}

// Refusal is an agent directory Load did not take, and why.
type Refusal struct {
	Name string
	Err  error
}

// Load reads the agents under dir, in name order. A directory that does
// not exist holds no agents. Each agent it cannot take is a Refusal; a dir
// it cannot trust at all (not a directory, wrongly owned or writable by
// others) is one Refusal named after dir.
func Load(ctx context.Context, dir string, o Options) (*Set, []Refusal) {
	set := &Set{agents: map[string]*Agent{}}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Owners == nil {
		o.Owners = []int{os.Geteuid()}
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err := trusted(dir, true, o.Owners); err != nil {
		return set, []Refusal{{Name: dir, Err: err}}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return set, []Refusal{{Name: dir, Err: err}}
	}
	var refused []Refusal
	budget := MaxAdvertised
	for _, e := range entries {
		if ctx.Err() != nil {
			return set, append(refused, Refusal{Name: dir, Err: ctx.Err()})
		}
		name := e.Name()
		if name[0] == '.' || !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue // hidden entries and plain files (a README) are not agents
		}
		a, err := loadAgent(filepath.Join(dir, name), name, o)
		if err == nil && len(set.agents) >= MaxAgents {
			err = fmt.Errorf("this node serves at most %d external agents", MaxAgents)
		}
		if err == nil && len(a.raw) > budget {
			err = fmt.Errorf("its schema (%d bytes) does not fit in what is left of the %d bytes of schemas a node advertises", len(a.raw), MaxAdvertised)
		}
		if err != nil {
			refused = append(refused, Refusal{Name: name, Err: err})
			continue
		}
		budget -= len(a.raw)
		set.agents[name] = a
	}
	return set, refused
}

// loadAgent reads and checks one agent directory.
func loadAgent(dir, name string, o Options) (*Agent, error) {
	if !ddlfile.NameRE.MatchString(name) {
		return nil, fmt.Errorf("%q is not an agent name (lower-case letters, digits and _, starting with a letter)", name)
	}
	if slices.Contains(o.Reserved, name) {
		return nil, fmt.Errorf("%s is the name of a built-in agent", name)
	}
	if err := trusted(dir, true, o.Owners); err != nil {
		return nil, err
	}
	exe := filepath.Join(dir, name)
	if err := trusted(exe, false, o.Owners); err != nil {
		return nil, fmt.Errorf("executable: %w", err)
	}
	if st, _ := os.Stat(exe); st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not executable", exe)
	}
	schemaPath, err := schemaFile(dir)
	if err != nil {
		return nil, err
	}
	if err := trusted(schemaPath, false, o.Owners); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	schema, err := ddlfile.Load(schemaPath)
	if err != nil {
		return nil, err
	}
	if schema.Name != name {
		return nil, fmt.Errorf("%s names the agent %q, not %q (its directory's name)", schemaPath, schema.Name, name)
	}
	raw, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	return &Agent{name: name, dir: dir, exe: exe, schema: schema, raw: raw, node: o.Node, timeout: o.Timeout}, nil
}

// schemaFile finds the one schema file of an agent directory.
func schemaFile(dir string) (string, error) {
	var found []string
	for _, ext := range ddlfile.Extensions() {
		p := filepath.Join(dir, "schema"+ext)
		if _, err := os.Lstat(p); err == nil {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no schema.json or schema.hcl in %s", dir)
	case 1:
		return found[0], nil
	}
	sort.Strings(found)
	return "", fmt.Errorf("both %s and %s: keep one", found[0], found[1])
}

// trusted checks that path (followed if a link) is a directory (isDir) or
// a regular file, owned by root or one of owners, and writable by neither
// its group nor others: nobody but its owner can change what the node
// runs.
func trusted(path string, isDir bool, owners []int) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	switch {
	case isDir && !st.IsDir():
		return fmt.Errorf("%s is not a directory", path)
	case !isDir && !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by its group or others (mode %04o): refused", path, st.Mode().Perm())
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot read its owner", path)
	}
	if uid := int(sys.Uid); uid != 0 && !slices.Contains(owners, uid) {
		return fmt.Errorf("%s is owned by uid %d, not root or the agent's user: refused", path, uid)
	}
	return nil
}
