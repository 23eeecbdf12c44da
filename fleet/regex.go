package fleet

import (
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
)

// regexMatcher evaluates the regular expressions of a filter.
type regexMatcher interface {
	matchRegexp(expr, s string) bool
}

// compileEach compiles every expression where it is used (Filter.Match).
type compileEach struct{}

func (compileEach) matchRegexp(expr, s string) bool {
	re, err := regexp.Compile(expr)
	return err == nil && re.MatchString(s)
}

// assumeMatch evaluates nothing and takes every expression as matching
// (Filter.Prefilter).
type assumeMatch struct{}

func (assumeMatch) matchRegexp(string, string) bool { return true }

// RegexCache keeps compiled regular expressions for Filter.MatchCached:
// a node sees the same few filters again and again. It holds at most its
// capacity of expressions (when full it starts afresh) and counts what it
// compiles and evaluates, so that tests can tell whether a message made a
// node do regular-expression work. Safe for concurrent use.
type RegexCache struct {
	mu       sync.Mutex
	max      int
	m        map[string]*regexp.Regexp
	compiles atomic.Int64
	evals    atomic.Int64
}

// NewRegexCache returns a cache of at most max expressions; max <= 0 means
// 1024.
func NewRegexCache(max int) *RegexCache {
	if max <= 0 {
		max = 1024
	}
	return &RegexCache{max: max, m: map[string]*regexp.Regexp{}}
}

// Compile returns the compiled expr, from the cache when it is there.
func (c *RegexCache) Compile(expr string) (*regexp.Regexp, error) {
	c.mu.Lock()
	re, ok := c.m[expr]
	c.mu.Unlock()
	if ok {
		return re, nil
	}
	c.compiles.Add(1)
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q: %w", expr, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = map[string]*regexp.Regexp{}
	}
	c.m[expr] = re
	return re, nil
}

// Compiles is how many expressions the cache has compiled.
func (c *RegexCache) Compiles() int64 { return c.compiles.Load() }

// Evals is how many times an expression was evaluated through the cache.
func (c *RegexCache) Evals() int64 { return c.evals.Load() }

func (c *RegexCache) matchRegexp(expr, s string) bool {
	c.evals.Add(1)
	re, err := c.Compile(expr)
	return err == nil && re.MatchString(s)
}

// Shape limits a filter must respect before a node does anything with it
// (Filter.CheckShape).
const (
	MaxFilterEntries = 256 // fact conditions, classes, agents and identities together
	MaxPatternLength = 256 // bytes of one value or /regular expression/
)

// CheckShape checks f against MaxFilterEntries and MaxPatternLength
// without compiling anything: it is cheap on unauthenticated input.
func (f *Filter) CheckShape() error {
	if f == nil {
		return nil
	}
	n := len(f.Facts) + len(f.Classes) + len(f.Agents) + len(f.Identities)
	if n > MaxFilterEntries {
		return fmt.Errorf("filter has %d entries, more than %d", n, MaxFilterEntries)
	}
	for _, ff := range f.Facts {
		if len(ff.Fact) > MaxPatternLength || len(ff.Value) > MaxPatternLength {
			return fmt.Errorf("filter on fact %.40q: longer than %d bytes", ff.Fact, MaxPatternLength)
		}
	}
	for _, list := range [][]string{f.Classes, f.Agents, f.Identities} {
		for _, p := range list {
			if len(p) > MaxPatternLength {
				return fmt.Errorf("filter entry %.40q…: longer than %d bytes", p, MaxPatternLength)
			}
		}
	}
	return nil
}
