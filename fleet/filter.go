package fleet

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// factOps are the comparison operators of a fact condition, longest first
// so that ">=" is found before ">".
var factOps = []string{"==", "!=", "=~", ">=", "<=", ">", "<", "="}

// ParseFactFilter parses a fact condition written on the command line:
// the fact's name, then its condition as NewFactFilter reads it —
// cluster=bravo, cluster==bravo, cluster!=bravo, cluster=/al/ (regular
// expression), cluster=~al, cpus>=4, cpus<8 ...
func ParseFactFilter(s string) (FactFilter, error) {
	i := strings.IndexAny(s, "=!<>")
	if i <= 0 || !hasFactOp(s[i:]) || strings.TrimSpace(s[:i]) == "" {
		return FactFilter{}, fmt.Errorf("fact filter %q: want FACT=VALUE, FACT=/REGEX/, FACT!=VALUE or FACT>=NUMBER", s)
	}
	return NewFactFilter(strings.TrimSpace(s[:i]), s[i:])
}

// hasFactOp reports whether cond starts with an operator.
func hasFactOp(cond string) bool {
	for _, op := range factOps {
		if strings.HasPrefix(cond, op) {
			return true
		}
	}
	return false
}

// NewFactFilter makes the condition cond on the fact named fact. cond is an
// optional operator followed by the value: "bravo" and "=bravo" or
// "==bravo" compare for equality, "!=bravo" for inequality, "/al/" and
// "=~al" match a regular expression, ">=4", "<=4", ">4" and "<4" compare
// numbers. This one grammar serves the command line (-F cluster=bravo,
// through ParseFactFilter) and playbooks (fact = { cluster = "bravo" }).
func NewFactFilter(fact, cond string) (FactFilter, error) {
	f := FactFilter{Fact: fact, Op: "==", Value: strings.TrimSpace(cond)}
	for _, op := range factOps {
		if strings.HasPrefix(cond, op) {
			f.Op, f.Value = op, strings.TrimSpace(cond[len(op):])
			break
		}
	}
	if f.Op == "=" {
		f.Op = "=="
	}
	if f.Op == "==" && len(f.Value) >= 2 && strings.HasPrefix(f.Value, "/") && strings.HasSuffix(f.Value, "/") {
		f.Op, f.Value = "=~", f.Value[1:len(f.Value)-1]
	}
	if err := f.Validate(); err != nil {
		return FactFilter{}, err
	}
	return f, nil
}

// Validate checks the operator and, for regular expressions and numeric
// comparisons, the value.
func (f FactFilter) Validate() error {
	if f.Fact == "" {
		return fmt.Errorf("fact filter has no fact name")
	}
	switch f.Op {
	case "==", "!=":
	case "=~":
		if _, err := regexp.Compile(f.Value); err != nil {
			return fmt.Errorf("fact filter %s: bad regular expression: %w", f.Fact, err)
		}
	case "<", "<=", ">", ">=":
		if _, err := strconv.ParseFloat(f.Value, 64); err != nil {
			return fmt.Errorf("fact filter %s%s%s: %q is not a number", f.Fact, f.Op, f.Value, f.Value)
		}
	default:
		return fmt.Errorf("fact filter %s: unknown operator %q", f.Fact, f.Op)
	}
	return nil
}

// String renders the filter as it is written on the command line.
func (f FactFilter) String() string {
	if f.Op == "=~" {
		return f.Fact + "=/" + f.Value + "/"
	}
	return f.Fact + f.Op + f.Value
}

// Empty reports whether the filter selects every node.
func (f *Filter) Empty() bool {
	return f == nil || len(f.Facts) == 0 && len(f.Classes) == 0 && len(f.Agents) == 0 && len(f.Identities) == 0
}

// String renders the filter for messages, e.g. "fact cluster==bravo, agent haproxy".
func (f *Filter) String() string {
	if f.Empty() {
		return "all nodes"
	}
	var parts []string
	for _, ff := range f.Facts {
		parts = append(parts, "fact "+ff.String())
	}
	for _, c := range f.Classes {
		parts = append(parts, "class "+c)
	}
	for _, a := range f.Agents {
		parts = append(parts, "agent "+a)
	}
	if len(f.Identities) > 0 {
		ids := f.Identities
		if len(ids) > 5 {
			ids = append(append([]string{}, ids[:5]...), fmt.Sprintf("... (%d)", len(f.Identities)))
		}
		parts = append(parts, "identity "+strings.Join(ids, "|"))
	}
	return strings.Join(parts, ", ")
}

// Validate checks every fact filter and every /regex/ entry.
func (f *Filter) Validate() error {
	if f == nil {
		return nil
	}
	for _, ff := range f.Facts {
		if err := ff.Validate(); err != nil {
			return err
		}
	}
	for _, list := range [][]string{f.Classes, f.Agents, f.Identities} {
		for _, p := range list {
			if isRegex(p) {
				if _, err := regexp.Compile(p[1 : len(p)-1]); err != nil {
					return fmt.Errorf("filter %s: bad regular expression: %w", p, err)
				}
			}
		}
	}
	return nil
}

// Match reports whether the node described by info is selected by f. A nil
// or empty filter matches every node. Regular expressions are compiled
// for this call; MatchCached reuses them.
func (f *Filter) Match(info *NodeInfo) bool { return f.match(info, compileEach{}) }

// MatchCached is Match with the regular expressions compiled once and
// kept in c.
func (f *Filter) MatchCached(info *NodeInfo, c *RegexCache) bool { return f.match(info, c) }

// Prefilter is Match without regular expressions: it reports false only
// when a part of f that is not a regular expression rules the node out,
// and true otherwise (regular-expression parts count as matching). It
// compiles and evaluates nothing, so it is safe on unauthenticated input.
func (f *Filter) Prefilter(info *NodeInfo) bool { return f.match(info, assumeMatch{}) }

// match is Match with rx evaluating the regular expressions.
func (f *Filter) match(info *NodeInfo, rx regexMatcher) bool {
	if f == nil {
		return true
	}
	for _, ff := range f.Facts {
		if !ff.match(info.Facts, rx) {
			return false
		}
	}
	for _, c := range f.Classes {
		if !anyMatch(c, info.Classes, rx) {
			return false
		}
	}
	for _, a := range f.Agents {
		names := make([]string, 0, len(info.Agents))
		for n := range info.Agents {
			names = append(names, n)
		}
		if !anyMatch(a, names, rx) {
			return false
		}
	}
	if len(f.Identities) == 0 {
		return true
	}
	for _, id := range f.Identities {
		if patternMatch(id, info.Identity, rx) {
			return true
		}
	}
	return false
}

func (ff FactFilter) match(facts map[string]any, rx regexMatcher) bool {
	v, ok := lookupFact(facts, ff.Fact)
	if !ok {
		return ff.Op == "!="
	}
	s := factString(v)
	switch ff.Op {
	case "==":
		return s == ff.Value
	case "!=":
		return s != ff.Value
	case "=~":
		return rx.matchRegexp(ff.Value, s)
	}
	have, err1 := strconv.ParseFloat(s, 64)
	want, err2 := strconv.ParseFloat(ff.Value, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	switch ff.Op {
	case "<":
		return have < want
	case "<=":
		return have <= want
	case ">":
		return have > want
	case ">=":
		return have >= want
	}
	return false
}

// LookupFact finds a fact by name, as filters do: a fact of that exact
// name, else, for a dotted name (os.family), the value nested under it.
func LookupFact(facts map[string]any, name string) (any, bool) { return lookupFact(facts, name) }

// lookupFact finds a fact by name; dotted names reach into nested maps
// (os.family).
func lookupFact(facts map[string]any, name string) (any, bool) {
	if v, ok := facts[name]; ok {
		return v, true
	}
	var cur any = facts
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// factString renders a fact value for comparison.
func factString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	case map[string]any:
		// A subtree (os) reads as JSON, keys sorted, not Go map syntax.
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

// FactString renders a fact value as filters and `orch facts` see it.
func FactString(v any) string { return factString(v) }

func isRegex(p string) bool { return len(p) >= 2 && p[0] == '/' && p[len(p)-1] == '/' }

// IsPattern reports whether a class, agent or identity filter value is a
// /regular expression/ rather than an exact name.
func IsPattern(value string) bool { return isRegex(value) }

func patternMatch(pattern, s string, rx regexMatcher) bool {
	if isRegex(pattern) {
		return rx.matchRegexp(pattern[1:len(pattern)-1], s)
	}
	return pattern == s
}

func anyMatch(pattern string, values []string, rx regexMatcher) bool {
	for _, v := range values {
		if patternMatch(pattern, v, rx) {
			return true
		}
	}
	return false
}
