// Package nesting bounds how deeply HCL source nests, checked over the
// source bytes before HCL's recursive-descent parser sees them: tens of
// thousands of nested parentheses (or unary operators) overflow the Go
// stack, which no recover can catch.
//
//	if diags := nesting.Check("deploy.hcl", src, 0); diags.HasErrors() {
//		return diags // do not parse src
//	}
//	f, diags := parser.ParseHCL(src, "deploy.hcl")
//
// The scan is cheap (one pass, no allocation per byte) and conservative:
// it counts brackets, template interpolations and strings, runs of unary
// operators (! and -) and conditional operators (?) in one expression,
// skipping comments and the text of strings and heredocs. It may
// over-count (a legitimate file never comes near the limit); it never
// under-counts what the parser recurses on.
package nesting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// DefaultMax is the nesting depth Check allows when given 0.
const DefaultMax = 1000

// kind is what a frame of the scan's stack is.
type kind byte

const (
	code     kind = iota // the top level, ( [ { or ${ %{ (closed by })
	quoted               // "..."
	heredoc              // <<ID ... ID
	template             // a JSON string's content: a template without quotes
)

type frame struct {
	kind   kind
	interp bool   // code opened by ${ or %{
	q      int    // conditional operators counted in this frame
	term   []byte // heredoc terminator
}

// scanner walks src keeping the stack of open frames; depth is the stack
// size plus every frame's q plus the current run of unary operators.
type scanner struct {
	src   []byte
	i     int
	stack []frame
	depth int
	unary int
	max   int
	over  int // offset where depth first exceeded max, or -1
}

// Check reports an error diagnostic when native-syntax HCL src (a file or
// an expression) nests deeper than max (0 means DefaultMax), at the place
// where it does.
func Check(filename string, src []byte, limit int) hcl.Diagnostics {
	s := newScanner(src, limit, code)
	s.run()
	return s.diags(filename, src, s.over)
}

// CheckJSON is Check for HCL's JSON syntax: JSON arrays and objects count,
// and every string is scanned as the template HCL reads it as.
func CheckJSON(filename string, src []byte, limit int) hcl.Diagnostics {
	if limit <= 0 {
		limit = DefaultMax
	}
	depth := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth = max(depth-1, 0)
		case '"':
			end := stringEnd(src, i)
			if bytes.Contains(src[i:end], []byte("{")) && !templateFits(src[i:end], limit-depth) {
				return diagAt(filename, src, i, limit)
			}
			i = end - 1
			continue
		}
		if depth > limit {
			return diagAt(filename, src, i, limit)
		}
	}
	return nil
}

// stringEnd is the offset just after the JSON string starting at src[i].
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

// templateFits reports whether the JSON string lit, read as an HCL
// template, nests at most max deep.
func templateFits(lit []byte, limit int) bool {
	if limit < 1 {
		return false
	}
	var text string
	if json.Unmarshal(lit, &text) != nil {
		return true // not a valid string: the JSON parser reports it
	}
	s := newScanner([]byte(text), limit, template)
	s.run()
	return s.over < 0
}

func newScanner(src []byte, limit int, bottom kind) *scanner {
	if limit <= 0 {
		limit = DefaultMax
	}
	return &scanner{src: src, stack: []frame{{kind: bottom}}, max: limit, over: -1}
}

// run scans to the end of src or to the first place the depth exceeds max.
func (s *scanner) run() {
	for s.i < len(s.src) && s.over < 0 {
		start := s.i
		switch top := &s.stack[len(s.stack)-1]; top.kind {
		case code:
			s.code(top)
		case heredoc:
			s.heredoc(top)
		default:
			s.text(top)
		}
		if s.depth+s.unary > s.max {
			s.over = start
		}
	}
}

func (s *scanner) push(f frame) {
	s.stack = append(s.stack, f)
	s.depth++
}

// pop closes the top frame; the bottom one is never closed.
func (s *scanner) pop() {
	if len(s.stack) == 1 {
		return
	}
	top := s.stack[len(s.stack)-1]
	s.depth -= 1 + top.q
	s.stack = s.stack[:len(s.stack)-1]
}

// at reports whether src continues with p at offset i.
func (s *scanner) at(i int, p string) bool {
	return i >= 0 && i+len(p) <= len(s.src) && string(s.src[i:i+len(p)]) == p
}

// code consumes one token's worth of expression or body syntax.
func (s *scanner) code(top *frame) {
	c := s.src[s.i]
	s.i++
	switch c {
	case ' ', '\t', '\r', '\n':
		return // unary runs continue over white space
	case '!', '-':
		s.unary++
		return
	}
	s.unary = 0
	switch c {
	case '(', '[', '{':
		s.push(frame{kind: code})
	case ')', ']':
		if !top.interp {
			s.pop()
		}
	case '}':
		s.pop()
	case '"':
		s.push(frame{kind: quoted})
	case '?':
		top.q++
		s.depth++
	case ',':
		s.depth -= top.q
		top.q = 0
	case '=':
		s.assign(top)
	case '#':
		s.skipPast("\n")
	case '/':
		s.comment()
	case '<':
		s.heredocStart()
	}
}

// assign ends the conditional chain of an object item or attribute at a
// bare '=' (not part of ==, <=, >= or !=).
func (s *scanner) assign(top *frame) {
	prev := byte(0)
	if s.i >= 2 {
		prev = s.src[s.i-2]
	}
	if s.at(s.i, "=") || prev == '=' || prev == '<' || prev == '>' || prev == '!' {
		return
	}
	s.depth -= top.q
	top.q = 0
}

// comment skips a // or /* */ comment starting at the '/' just consumed.
func (s *scanner) comment() {
	switch {
	case s.at(s.i, "/"):
		s.skipPast("\n")
	case s.at(s.i, "*"):
		s.i++
		s.skipPast("*/")
	}
}

// skipPast moves past the next occurrence of end, or to the end of src.
func (s *scanner) skipPast(end string) {
	if j := bytes.Index(s.src[s.i:], []byte(end)); j >= 0 {
		s.i += j + len(end)
		return
	}
	s.i = len(s.src)
}

// heredocStart opens a heredoc when the '<' just consumed starts
// <<ID or <<-ID followed by a newline.
func (s *scanner) heredocStart() {
	j := s.i
	if !s.at(j, "<") {
		return
	}
	j++
	if s.at(j, "-") {
		j++
	}
	k := j
	for k < len(s.src) && isIdent(s.src[k], k == j) {
		k++
	}
	nl := k
	if s.at(nl, "\r") {
		nl++
	}
	if k == j || !s.at(nl, "\n") {
		return
	}
	s.push(frame{kind: heredoc, term: s.src[j:k]})
	s.i = nl + 1
}

func isIdent(c byte, first bool) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
		(!first && (c == '-' || ('0' <= c && c <= '9')))
}

// text consumes one character of a quoted string or a JSON string's
// template: escapes, interpolations and the closing quote.
func (s *scanner) text(top *frame) {
	c := s.src[s.i]
	s.i++
	switch {
	case c == '\\' && top.kind == quoted:
		s.i++
	case c == '"' && top.kind == quoted, c == '\n' && top.kind == quoted:
		s.pop()
	case c == '$' || c == '%':
		s.interp(c)
	}
}

// interp opens an interpolation or directive after the '$' or '%' just
// consumed, unless it is escaped ($${ or %%{).
func (s *scanner) interp(c byte) {
	switch {
	case s.at(s.i, string(c)+"{"):
		s.i += 2
	case s.at(s.i, "{"):
		s.i++
		s.push(frame{kind: code, interp: true})
	}
}

// heredoc consumes one character of a heredoc's text, or its closing line.
func (s *scanner) heredoc(top *frame) {
	if s.i == 0 || s.src[s.i-1] == '\n' {
		j := s.i
		for j < len(s.src) && (s.src[j] == ' ' || s.src[j] == '\t') {
			j++
		}
		if s.at(j, string(top.term)) && !s.identAt(j+len(top.term)) {
			s.i = j + len(top.term)
			s.pop()
			return
		}
	}
	c := s.src[s.i]
	s.i++
	if c == '$' || c == '%' {
		s.interp(c)
	}
}

func (s *scanner) identAt(i int) bool { return i < len(s.src) && isIdent(s.src[i], false) }

// diags is the diagnostic for depth exceeded at offset over (none if < 0).
func (s *scanner) diags(filename string, src []byte, over int) hcl.Diagnostics {
	if over < 0 {
		return nil
	}
	return diagAt(filename, src, over, s.max)
}

func diagAt(filename string, src []byte, off, limit int) hcl.Diagnostics {
	pos := posAt(src, off)
	end := pos
	end.Byte++
	end.Column++
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Expression nested too deeply",
		Detail: fmt.Sprintf("The source nests brackets, strings, interpolations or operators more than %d deep here; "+
			"orch does not parse it. Split the expression into locals.", limit),
		Subject: &hcl.Range{Filename: filename, Start: pos, End: end},
	}}
}

// posAt is the line and column (in characters) of byte offset off.
func posAt(src []byte, off int) hcl.Pos {
	if off > len(src) {
		off = len(src)
	}
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	return hcl.Pos{Line: line, Column: 1 + utf8.RuneCount(src[start:off]), Byte: off}
}
