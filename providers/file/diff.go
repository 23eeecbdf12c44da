package file

import (
	"fmt"
	"strings"
)

// maxDiffCells bounds the line-matching table; beyond it the diff shows
// the whole old text removed and the new one added.
const maxDiffCells = 4 << 20

// Diff returns a unified diff (3 lines of context) from old to new, with
// the given file names in its header; "" when they are equal.
func Diff(oldName, newName, old, new string) string {
	if old == new {
		return ""
	}
	a, b := lines(old), lines(new)
	ops := diffOps(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", oldName, newName)
	for _, h := range hunks(ops, 3) {
		writeHunk(&sb, ops[h[0]:h[1]])
	}
	return sb.String()
}

// lines splits s into lines, each with its newline; a last line without
// one is marked as in diff(1).
func lines(s string) []string {
	if s == "" {
		return nil
	}
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		return l[:len(l)-1]
	}
	l[len(l)-1] += "\n\\ No newline at end of file\n"
	return l
}

// op is one line of the edit script: ' ', '-' or '+', with the line's
// numbers in the old and new text (1-based).
type op struct {
	kind       byte
	text       string
	aLine, bLn int
}

// diffOps computes an edit script by longest common subsequence.
func diffOps(a, b []string) []op {
	n, m := len(a), len(b)
	var ops []op
	if n*m > maxDiffCells {
		for i, l := range a {
			ops = append(ops, op{'-', l, i + 1, 0})
		}
		for j, l := range b {
			ops = append(ops, op{'+', l, n, j + 1})
		}
		return ops
	}
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i], i + 1, j + 1})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', a[i], i + 1, j})
			i++
		default:
			ops = append(ops, op{'+', b[j], i, j + 1})
			j++
		}
	}
	return ops
}

// hunks returns [start, end) ranges of ops around changes, with ctx lines
// of context, merging ranges that touch.
func hunks(ops []op, ctx int) [][2]int {
	var out [][2]int
	for i, o := range ops {
		if o.kind == ' ' {
			continue
		}
		start, end := max(0, i-ctx), min(len(ops), i+ctx+1)
		if len(out) > 0 && start <= out[len(out)-1][1] {
			out[len(out)-1][1] = end
			continue
		}
		out = append(out, [2]int{start, end})
	}
	return out
}

// writeHunk writes one hunk: its @@ header and its lines.
func writeHunk(sb *strings.Builder, ops []op) {
	var aStart, bStart, aN, bN int
	for _, o := range ops {
		if o.kind != '+' {
			if aN == 0 {
				aStart = o.aLine
			}
			aN++
		}
		if o.kind != '-' {
			if bN == 0 {
				bStart = o.bLn
			}
			bN++
		}
	}
	if aN == 0 {
		aStart = ops[0].aLine
	}
	if bN == 0 {
		bStart = ops[0].bLn
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", span(aStart, aN), span(bStart, bN))
	for _, o := range ops {
		sb.WriteByte(o.kind)
		sb.WriteString(o.text)
	}
}

// span formats a hunk range as diff(1) does.
func span(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}
