package ddlfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/orch-fleet/orch/ddl"
)

// MaxSize is the largest schema file Load reads, in bytes.
const MaxSize = 64 << 10

// Limits on a schema's contents, so that what a node advertises stays small.
const (
	MaxActions = 64  // actions of one agent
	MaxInputs  = 64  // inputs, and outputs, of one action
	MaxText    = 512 // characters of a description, pattern or version
)

// NameRE is what agent, action, input and output names look like: they are
// parts of NATS subjects, resource type names and HCL identifiers.
var NameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Extensions returns the file name extensions Parse understands.
func Extensions() []string { return []string{".json", ".hcl"} }

// Load reads the schema file at path (JSON or HCL, by its extension) and
// checks it.
func Load(path string) (*ddl.Agent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(src) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSize)
	}
	return Parse(path, src)
}

// Parse parses the schema src read from filename, JSON or HCL by the
// name's extension, checks it and returns it with its defaults normalised
// (integers as int64, other numbers as float64).
func Parse(filename string, src []byte) (*ddl.Agent, error) {
	var a *ddl.Agent
	var err error
	switch filepath.Ext(filename) {
	case ".json":
		a, err = parseJSON(src)
	case ".hcl":
		a, err = parseHCL(filename, src)
	default:
		return nil, fmt.Errorf("%s: a schema file ends in .json or .hcl", filename)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	if err := Check(a); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return a, nil
}

// parseJSON decodes a ddl.Agent, refusing fields it does not have.
func parseJSON(src []byte) (*ddl.Agent, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	var a ddl.Agent
	if err := dec.Decode(&a); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return &a, nil
}
