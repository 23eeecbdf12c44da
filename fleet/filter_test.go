package fleet

import "testing"

func TestParseFactFilter(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    FactFilter
		wantErr bool
	}{
		"equals":          {in: "cluster=bravo", want: FactFilter{"cluster", "==", "bravo"}},
		"double equals":   {in: "cluster==bravo", want: FactFilter{"cluster", "==", "bravo"}},
		"not equals":      {in: "cluster!=bravo", want: FactFilter{"cluster", "!=", "bravo"}},
		"slash regex":     {in: "cluster=/^al/", want: FactFilter{"cluster", "=~", "^al"}},
		"tilde regex":     {in: "cluster=~al", want: FactFilter{"cluster", "=~", "al"}},
		"at least":        {in: "cpus>=4", want: FactFilter{"cpus", ">=", "4"}},
		"less":            {in: "cpus<8", want: FactFilter{"cpus", "<", "8"}},
		"dotted":          {in: "os.family=debian", want: FactFilter{"os.family", "==", "debian"}},
		"value with op":   {in: "motd=a=b", want: FactFilter{"motd", "==", "a=b"}},
		"no operator":     {in: "cluster", wantErr: true},
		"bang alone":      {in: "cluster!bravo", wantErr: true},
		"blank name":      {in: " =x", wantErr: true},
		"no name":         {in: "=bravo", wantErr: true},
		"not a number":    {in: "cpus>=many", wantErr: true},
		"bad regex":       {in: "cluster=/(/", wantErr: true},
		"spaces trimmed":  {in: "cpus >= 4", want: FactFilter{"cpus", ">=", "4"}},
		"empty value ok":  {in: "cluster=", want: FactFilter{"cluster", "==", ""}},
		"regex needs two": {in: "cluster=/", want: FactFilter{"cluster", "==", "/"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseFactFilter(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseFactFilter(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("ParseFactFilter(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// TestNewFactFilterPlaybookForm checks the playbook form (fact = { NAME =
// "COND" }) reads conditions with the same grammar as the command line.
func TestNewFactFilterPlaybookForm(t *testing.T) {
	tests := map[string]FactFilter{
		"bravo":  {"cluster", "==", "bravo"},
		"!=alfa": {"cluster", "!=", "alfa"},
		"/^b/":   {"cluster", "=~", "^b"},
		">= 4":   {"cluster", ">=", "4"},
	}
	for cond, want := range tests {
		got, err := NewFactFilter("cluster", cond)
		if err != nil || got != want {
			t.Errorf("NewFactFilter(cluster, %q) = %+v, %v; want %+v", cond, got, err, want)
		}
		if back, err := ParseFactFilter(want.String()); err != nil || back != want {
			t.Errorf("ParseFactFilter(%q) = %+v, %v; want the same filter back", want.String(), back, err)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	info := &NodeInfo{Identity: "web1", Facts: map[string]any{"cluster": "alfa", "cpus": float64(4), "os": map[string]any{"family": "debian"}},
		Classes: []string{"web"}, Agents: map[string]string{"nrpe": "1"}}
	tests := map[string]struct {
		f    Filter
		want bool
	}{
		"empty":           {Filter{}, true},
		"fact":            {Filter{Facts: []FactFilter{{"cluster", "==", "alfa"}}}, true},
		"fact mismatch":   {Filter{Facts: []FactFilter{{"cluster", "==", "bravo"}}}, false},
		"missing fact !=": {Filter{Facts: []FactFilter{{"zone", "!=", "x"}}}, true},
		"numeric":         {Filter{Facts: []FactFilter{{"cpus", ">=", "4"}}}, true},
		"nested":          {Filter{Facts: []FactFilter{{"os.family", "==", "debian"}}}, true},
		"class regex":     {Filter{Classes: []string{"/^w/"}}, true},
		"agent":           {Filter{Agents: []string{"haproxy"}}, false},
		"any identity":    {Filter{Identities: []string{"web9", "web1"}}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.f.Match(info); got != tc.want {
				t.Errorf("%s.Match = %v, want %v", tc.f.String(), got, tc.want)
			}
		})
	}
}
