package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Variable is a root variable's value as a run records it.
type Variable struct {
	Name string `json:"name"`
	// Value is the value as JSON; "(sensitive)" (a JSON string) when the
	// variable is marked sensitive.
	Value     string `json:"value"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Redacted is the value a run records for a sensitive variable.
const Redacted = `"(sensitive)"`

// Variables returns the root variables' values in declaration order, with
// the values of variables marked sensitive replaced by Redacted, for run
// history. It is empty when the variables pass did not run.
func (r *Result) Variables() []Variable { return r.vars }

// Digest is the SHA-256 (hex) of the playbook's source files (modules
// included, -var-file files not), in name order: two runs with the same
// digest ran the same playbook text.
func (r *Result) Digest() string { return r.digest }

// runInfo fills what a run records of the compile: variables and digest.
func (c *compiler) runInfo(res *Result) {
	if c.root != nil {
		for _, v := range c.root.vars {
			val, ok := c.vars[v.name]
			if !ok {
				continue
			}
			out := Variable{Name: v.name, Value: Redacted, Sensitive: v.sensitive}
			if !v.sensitive {
				if b, err := ctyjson.Marshal(val, val.Type()); err == nil {
					out.Value = string(b)
				}
			}
			res.vars = append(res.vars, out)
		}
	}
	names := make([]string, 0, len(res.Files))
	for n := range res.Files {
		if !slices.Contains(c.opts.VarFiles, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n + "\x00"))
		h.Write(res.Files[n].Bytes)
		h.Write([]byte{0})
	}
	res.digest = hex.EncodeToString(h.Sum(nil))
}
