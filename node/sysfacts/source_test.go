package sysfacts

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSourceRefresh: the first collection signals, Refresh collects again
// and signals only when the facts changed.
func TestSourceRefresh(t *testing.T) {
	dir := writeFacts(t, map[string]string{"site.txt": "rack=r1\n"})
	s := NewSource(Settings{Dir: dir, Refresh: time.Hour, Timeout: time.Second}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	waitChanged(t, s)
	if d := cmp.Diff(map[string]any{"rack": "r1"}, s.Facts()); d != "" {
		t.Fatalf("first facts (-want +got):\n%s", d)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.txt"), []byte("rack=r2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Refresh()
	waitChanged(t, s)
	if d := cmp.Diff(map[string]any{"rack": "r2"}, s.Facts()); d != "" {
		t.Fatalf("refreshed facts (-want +got):\n%s", d)
	}
}

// TestSourceUnchanged: a collection that finds the same facts does not
// signal.
func TestSourceUnchanged(t *testing.T) {
	dir := writeFacts(t, map[string]string{"site.txt": "rack=r1\n"})
	s := NewSource(Settings{Dir: dir}, nil)
	s.collect(context.Background())
	<-s.Changed()
	s.collect(context.Background())
	select {
	case <-s.Changed():
		t.Fatal("signalled without a change")
	default:
	}
}

func waitChanged(t *testing.T, s *Source) {
	t.Helper()
	select {
	case <-s.Changed():
	case <-time.After(10 * time.Second):
		t.Fatal("facts did not change")
	}
}

func TestConfigSettings(t *testing.T) {
	off := false
	tests := map[string]struct {
		cfg     *Config
		want    Settings
		wantErr string
	}{
		"no block": {cfg: nil, want: Settings{Builtin: true, Dir: "/etc/orch/facts.d", Refresh: DefaultRefresh, Timeout: DefaultTimeout}},
		"all set": {cfg: &Config{Builtin: &off, Dir: "/srv/facts", Refresh: "1m", Timeout: "3s"},
			want: Settings{Builtin: false, Dir: "/srv/facts", Refresh: time.Minute, Timeout: 3 * time.Second}},
		"relative dir": {cfg: &Config{Dir: "more.d"}, want: Settings{Builtin: true, Dir: "/etc/orch/more.d", Refresh: DefaultRefresh, Timeout: DefaultTimeout}},
		"bad refresh":  {cfg: &Config{Refresh: "often"}, wantErr: `refresh = "often" is not a positive duration`},
		"bad timeout":  {cfg: &Config{Timeout: "-1s"}, wantErr: `timeout = "-1s" is not a positive duration`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tt.cfg.Settings("/etc/orch/node.hcl")
			checkErr(t, err, nonEmpty(tt.wantErr))
			if tt.wantErr == "" {
				if d := cmp.Diff(tt.want, got); d != "" {
					t.Errorf("Settings (-want +got):\n%s", d)
				}
			}
			if d := tt.cfg.Check("/etc/orch/node.hcl"); d.HasErrors() != (tt.wantErr != "") {
				t.Errorf("Check: %v", d)
			}
		})
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
