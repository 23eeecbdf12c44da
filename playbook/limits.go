package playbook

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
)

// Limits against hostile or mistaken playbooks. Each is checked before
// what it bounds is allocated, and exceeding one is an error diagnostic at
// the place that does; docs/playbooks.md ("Limits") lists them.
const (
	// DefaultMaxInstances is how many instances one resource or module
	// call may have (its count, or the length of its for_each), unless
	// LoadOptions.MaxInstances says otherwise.
	DefaultMaxInstances = 10_000
	// DefaultMaxCatalogInstances is how many resource and module
	// instances one playbook may expand to in all, unless
	// LoadOptions.MaxCatalogInstances says otherwise. Compiling 10,000
	// resources takes about 0.8 s.
	DefaultMaxCatalogInstances = 100_000
	// MaxModuleDepth is how deeply module calls may nest.
	MaxModuleDepth = 20
)

// limits are the instance limits of one compilation, defaults applied.
type limits struct {
	perBlock   int
	perCatalog int
}

func newLimits(o LoadOptions) limits {
	l := limits{perBlock: o.MaxInstances, perCatalog: o.MaxCatalogInstances}
	if l.perBlock <= 0 {
		l.perBlock = DefaultMaxInstances
	}
	if l.perCatalog <= 0 {
		l.perCatalog = DefaultMaxCatalogInstances
	}
	return l
}

// tooManyKeys is the diagnostic for a count or for_each giving more than
// limit instances; n is how many it gives.
func tooManyKeys(a *hcl.Attribute, n *big.Float, limit int) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Too many instances",
		Detail: fmt.Sprintf("%s gives %s instances; a resource or module takes at most %s "+
			"(--max-instances raises the limit).", a.Name, commas(n.Text('f', 0)), thousands(limit)),
		Subject: a.Expr.Range().Ptr(),
	}
}

// budget counts the resource and module instances of one evaluation
// against the catalog limit.
type budget struct {
	limit int
	used  int
	over  bool // the limit was reached: nothing more is expanded
}

// reserve takes n instances for the block addr at rng (its count or
// for_each expression when it has one), reporting the first time the
// limit would be exceeded; false means do not expand.
func (b *budget) reserve(n int, addr string, rng hcl.Range) (bool, hcl.Diagnostics) {
	if b.over {
		return false, nil
	}
	if n <= b.limit-b.used {
		b.used += n
		return true, nil
	}
	b.over = true
	return false, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Too many instances",
		Detail: fmt.Sprintf("Expanding %s would take the playbook past %s resource and module instances "+
			"(%s so far, %s more here); --max-catalog-instances raises the limit.", addr, thousands(b.limit), thousands(b.used), thousands(n)),
		Subject: rng.Ptr(),
	}}
}

// expansionRange is where a block's instance count comes from: its
// for_each or count expression, else the block.
func expansionRange(forEach, count *hcl.Attribute, block hcl.Range) hcl.Range {
	switch {
	case forEach != nil:
		return forEach.Expr.Range()
	case count != nil:
		return count.Expr.Range()
	}
	return block
}

// thousands formats n with comma separators: 100000 → "100,000".
func thousands(n int) string { return commas(fmt.Sprint(n)) }

// commas puts comma separators into a decimal integer.
func commas(s string) string {
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
