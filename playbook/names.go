package playbook

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// suggest returns the candidate closest to name when it is close enough.
func suggest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(name)/3) {
		return best
	}
	return ""
}

// didYouMean is " Did you mean "X"?" for the closest candidate, or "".
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return rangeLess(out[i].Range, out[j].Range) })
	return out
}

func rangeLess(a, b hcl.Range) bool {
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	return a.Start.Byte < b.Start.Byte
}

func hclIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if i == 0 && !letter {
			return false
		}
		if !letter && r != '-' && !(r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// bodyNames are the argument names and block types a body may hold.
type bodyNames struct {
	attrs, blocks []string
}

func schemaNames(s *hcl.BodySchema) bodyNames {
	var n bodyNames
	for _, a := range s.Attributes {
		n.attrs = append(n.attrs, a.Name)
	}
	for _, b := range s.Blocks {
		n.blocks = append(n.blocks, b.Type)
	}
	return n
}

func (n bodyNames) all() []string { return append(append([]string{}, n.attrs...), n.blocks...) }

func (n bodyNames) has(list []string, name string) bool {
	for _, s := range list {
		if s == name {
			return true
		}
	}
	return false
}

// extra is an argument or block in a body that its schema does not take.
type extra struct {
	name  string
	block bool // a native-syntax block (else an argument or a JSON property)
	json  bool // a JSON property: argument or block cannot be told apart
	rng   hcl.Range
}

// extras lists what body holds beyond names: from the syntax tree of a
// native body, or as the properties left in remain (what PartialContent
// did not take) of a JSON body. Sorted by position.
func extras(body, remain hcl.Body, names bodyNames) []extra {
	var out []extra
	if sb, ok := body.(*hclsyntax.Body); ok {
		for _, a := range sb.Attributes {
			if !names.has(names.attrs, a.Name) {
				out = append(out, extra{name: a.Name, rng: a.NameRange})
			}
		}
		for _, b := range sb.Blocks {
			if !names.has(names.blocks, b.Type) {
				out = append(out, extra{name: b.Type, block: true, rng: b.TypeRange})
			}
		}
	} else {
		attrs, _ := remain.JustAttributes() // a JSON body: every property left is extra
		for _, a := range attrs {
			if !names.has(names.attrs, a.Name) {
				out = append(out, extra{name: a.Name, json: true, rng: a.NameRange})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return rangeLess(out[i].rng, out[j].rng) })
	return out
}

// diag is HCL's own diagnostic for an unexpected item, with a suggestion
// from names; argDetail, when set, words the detail of an argument.
func (e extra) diag(names bodyNames, argDetail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Subject: e.rng.Ptr()}
	switch {
	case e.block:
		d.Summary = "Unsupported block type"
		d.Detail = fmt.Sprintf("Blocks of type %q are not expected here.", e.name) + e.suggestion(names.blocks, names.attrs, "argument")
	case e.json:
		d.Summary = "Extraneous JSON object property"
		d.Detail = fmt.Sprintf("No argument or block type is named %q.", e.name) + didYouMean(e.name, names.all())
	default:
		d.Summary = "Unsupported argument"
		d.Detail = fmt.Sprintf("An argument named %q is not expected here.", e.name) + e.suggestion(names.attrs, names.blocks, "block")
	}
	if argDetail != "" && !e.block {
		d.Summary, d.Detail = "Unsupported argument", argDetail+e.suggestion(names.attrs, names.blocks, "block")
	}
	return d
}

// suggestion suggests a name of the same kind, else the other kind when it
// has exactly this name.
func (e extra) suggestion(same, other []string, otherKind string) string {
	if s := didYouMean(e.name, same); s != "" {
		return s
	}
	for _, o := range other {
		if o == e.name && otherKind == "block" {
			return fmt.Sprintf(" Did you mean to define a block of type %q?", o)
		}
		if o == e.name {
			return fmt.Sprintf(" Did you mean to define argument %q? If so, use the equals sign to assign it a value.", o)
		}
	}
	return ""
}

// bodyContent is body.Content(schema) with orch's suggestions: the items
// the schema does not take are reported from the syntax tree, not from
// HCL's messages.
func bodyContent(body hcl.Body, schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	content, remain, diags := body.PartialContent(schema)
	names := schemaNames(schema)
	for _, e := range extras(body, remain, names) {
		diags = append(diags, e.diag(names, ""))
	}
	return content, diags
}
