package sysfacts

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeFacts writes files (name -> content) into a new facts.d; names
// ending in * are made executable, without the *.
func writeFacts(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "facts.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, mode = n, 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExternal(t *testing.T) {
	tests := map[string]struct {
		files   map[string]string
		chmod   map[string]os.FileMode // after writing
		want    map[string]any
		wantErr []string // substrings of the error, one per failing file
	}{
		"shell script, key=value": {
			files: map[string]string{"app*": "#!/bin/sh\necho app.version=1.2.3\necho '# comment'\necho rack = r12\n"},
			want:  map[string]any{"app": map[string]any{"version": "1.2.3"}, "rack": "r12"},
		},
		"script printing JSON": {
			files: map[string]string{"hw*": "#!/bin/sh\necho '{\"disks\": 2, \"raid\": {\"level\": \"10\"}}'\n"},
			want:  map[string]any{"disks": 2.0, "raid": map[string]any{"level": "10"}},
		},
		"yaml, json and txt files": {
			files: map[string]string{
				"site.yaml": "datacenter: fra1\nteam:\n  name: web\n  oncall: true\n",
				"env.json":  `{"env": "prod", "tier": 1}`,
				"misc.txt":  "owner=ops\n",
			},
			want: map[string]any{"datacenter": "fra1", "team": map[string]any{"name": "web", "oncall": true}, "env": "prod", "tier": 1.0, "owner": "ops"},
		},
		"later files override earlier ones, nested maps merge": {
			files: map[string]string{"10-a.yaml": "team: {name: web, size: 3}\nrole: db\n", "20-b.txt": "team.name=api\nrole=cache\n"},
			want:  map[string]any{"team": map[string]any{"name": "api", "size": 3.0}, "role": "cache"},
		},
		"ignored: hidden, backups, plain files": {
			files: map[string]string{".hidden.yaml": "a: 1\n", "site.yaml~": "a: 1\n", "site.yaml.dpkg-old": "a: 1\n", "README": "not facts\n", "ok.txt": "b=2\n"},
			want:  map[string]any{"b": "2"},
		},
		"failing script, bad yaml, bad line: the others still count": {
			files: map[string]string{
				"fail*":    "#!/bin/sh\necho oops >&2\nexit 3\n",
				"bad.yaml": "a: [1,\n",
				"bad.txt":  "no equals sign\n",
				"good.txt": "fine=yes\n",
			},
			want:    map[string]any{"fine": "yes"},
			wantErr: []string{"fail: exit status 3: oops", "bad.yaml:", `bad.txt: line 1: want key=value, got "no equals sign"`},
		},
		"hanging script is killed at the timeout": {
			files:   map[string]string{"hang*": "#!/bin/sh\necho a=1\nsleep 60\n", "z.txt": "after=yes\n"},
			want:    map[string]any{"after": "yes"},
			wantErr: []string{"hang: ", "killed after"},
		},
		"oversized output is refused": {
			files:   map[string]string{"flood*": "#!/bin/sh\nyes a=1\n", "big.yaml": strings.Repeat("# padding\n", 2000)},
			want:    map[string]any{},
			wantErr: []string{"flood: output larger than 4096 bytes", "big.yaml: larger than 4096 bytes"},
		},
		"world-writable file is refused": {
			files:   map[string]string{"open.txt": "a=1\n"},
			chmod:   map[string]os.FileMode{"open.txt": 0o666},
			want:    map[string]any{},
			wantErr: []string{"open.txt: writable by everyone"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeFacts(t, tt.files)
			for file, mode := range tt.chmod {
				if err := os.Chmod(filepath.Join(dir, file), mode); err != nil {
					t.Fatal(err)
				}
			}
			e := External{Dir: dir, Timeout: 300 * time.Millisecond, MaxOutput: 4096}
			start := time.Now()
			got, err := e.Collect(context.Background())
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("Collect took %s", el)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("facts (-want +got):\n%s", d)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestExternalDirectory(t *testing.T) {
	got, err := External{Dir: filepath.Join(t.TempDir(), "absent")}.Collect(context.Background())
	if err != nil || len(got) != 0 {
		t.Errorf("absent dir: %v, %v; want no facts, no error", got, err)
	}
	dir := writeFacts(t, map[string]string{"a.txt": "a=1\n"})
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	got, err = External{Dir: dir}.Collect(context.Background())
	if err == nil || len(got) != 0 {
		t.Errorf("world-writable dir: %v, %v; want no facts and an error", got, err)
	}
}

func TestMerge(t *testing.T) {
	builtin := map[string]any{"os": map[string]any{"family": "debian", "release": "12"}, "cpu": map[string]any{"count": 2.0}}
	external := map[string]any{"os": map[string]any{"custom": "x"}, "rack": "r1"}
	config := map[string]any{"cpu": 8.0, "os": map[string]any{"release": "12.5"}}
	got := Merge(builtin, external, config)
	want := map[string]any{"os": map[string]any{"family": "debian", "release": "12.5", "custom": "x"}, "cpu": 8.0, "rack": "r1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Merge (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]any{"family": "debian", "release": "12"}, builtin["os"]); d != "" {
		t.Errorf("Merge modified its input:\n%s", d)
	}
}
