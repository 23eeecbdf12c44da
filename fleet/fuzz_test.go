package fleet

import "testing"

// FuzzParseFactFilter: any text parses or is refused with an error, never
// a panic; what parses renders back to a filter that parses the same, and
// matching it against nested facts never panics.
func FuzzParseFactFilter(f *testing.F) {
	for _, s := range []string{"cluster=bravo", "cluster!=alfa", "cluster=/^b/", "cluster=~al", "cpus>=4", "os.family=debian", "a=", "=x", "x>=y", "a=/(/"} {
		f.Add(s)
	}
	info := &NodeInfo{Identity: "web1", Facts: map[string]any{"cluster": "alfa", "cpus": float64(4), "os": map[string]any{"family": "debian"}, "n": nil}}
	f.Fuzz(func(t *testing.T, s string) {
		ff, err := ParseFactFilter(s)
		if err != nil {
			return
		}
		back, err := ParseFactFilter(ff.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose rendering %q does not parse: %v", s, ff, ff.String(), err)
		}
		if back != ff {
			t.Fatalf("%q parsed to %+v, rendered %q, parsed back to %+v", s, ff, ff.String(), back)
		}
		flt := Filter{Facts: []FactFilter{ff}, Classes: []string{ff.Value}, Identities: []string{ff.Value}}
		_ = flt.Validate()
		_ = flt.Match(info)
	})
}
