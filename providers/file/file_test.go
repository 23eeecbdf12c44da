package file

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/providertest"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/rpc"
)

func call(h rpc.Handler, act string, noop bool, in map[string]any) (*rpc.Result, error) {
	return h.Handle(context.Background(), &rpc.Call{Agent: "file", Action: act, NoOp: noop, Input: in})
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestWriteLifecycle writes, rewrites, re-modes and removes a real file,
// checking the disk after each step, the no-op diff, that content is
// replaced by rename (a new inode) and that no temporary file is left.
func TestWriteLifecycle(t *testing.T) {
	dir := t.TempDir()
	h := providertest.New(t, Spec(), `paths = ["`+dir+`"]`, providers.Env{})
	p := filepath.Join(dir, "app.conf")
	steps := []struct {
		action  string
		noop    bool
		in      map[string]any
		changed bool
		changes string
		diff    string
		content string // on disk afterwards; "-" absent
		mode    os.FileMode
	}{
		{"write", true, map[string]any{"content": "a\nb\n"}, true, "created", "--- " + p + "\n+++ " + p + "\n@@ -0,0 +1,2 @@\n+a\n+b\n", "-", 0},
		{"write", false, map[string]any{"content": "a\nb\n"}, true, "created", "+a\n+b\n", "a\nb\n", 0o644},
		{"write", false, map[string]any{"content": "a\nb\n"}, false, "", "", "a\nb\n", 0o644},
		{"write", true, map[string]any{"content": "a\nB\n", "mode": "0600"}, true, "content mode", "@@ -1,2 +1,2 @@\n a\n-b\n+B\n", "a\nb\n", 0o644},
		{"write", false, map[string]any{"content": "a\nB\n", "mode": "0600"}, true, "content mode", "-b\n+B\n", "a\nB\n", 0o600},
		{"write", false, map[string]any{"content": "a\nB\n", "mode": "640"}, true, "mode", "", "a\nB\n", 0o640},
		{"write", false, map[string]any{"content": "a\nB\n"}, false, "", "", "a\nB\n", 0o640},
		{"remove", true, map[string]any{}, true, "removed", "-a\n-B\n", "a\nB\n", 0o640},
		{"remove", false, map[string]any{}, true, "removed", "-a\n-B\n", "-", 0},
		{"remove", false, map[string]any{}, false, "", "", "-", 0},
	}
	var lastInode uint64
	for i, s := range steps {
		s.in["path"] = p
		res, err := call(h, s.action, s.noop, s.in)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		d := res.Data.(map[string]any)
		if got := strings.Join(d["changes"].([]string), " "); res.Changed != s.changed || got != s.changes || !strings.Contains(d["diff"].(string), s.diff) {
			t.Errorf("step %d %s %v: changed %v changes %q diff\n%s\nwant %v %q containing\n%s", i, s.action, s.in, res.Changed, got, d["diff"], s.changed, s.changes, s.diff)
		}
		b, err := os.ReadFile(p)
		if s.content == "-" {
			if err == nil {
				t.Errorf("step %d: %s exists", i, p)
			}
			continue
		}
		fi, _ := os.Stat(p)
		if string(b) != s.content || fi.Mode().Perm() != s.mode {
			t.Errorf("step %d: disk has %q %04o, want %q %04o", i, b, fi.Mode().Perm(), s.content, s.mode)
		}
		if ino := inode(t, p); s.changed && !s.noop && strings.Contains(s.changes, "content") && ino == lastInode {
			t.Errorf("step %d: content changed in place (same inode), not by rename", i)
		} else {
			lastInode = ino
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestOwner changes a real file's owner and group to nobody/nogroup and
// back (as root, where those exist).
func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	dir := t.TempDir()
	h := providertest.New(t, Spec(), `paths = ["`+dir+`"]`, providers.Env{})
	p := filepath.Join(dir, "owned")
	if _, err := call(h, "write", false, map[string]any{"path": p, "content": "x"}); err != nil {
		t.Fatal(err)
	}
	res, err := call(h, "write", false, map[string]any{"path": p, "content": "x", "owner": "nobody", "group": nobody.Gid})
	if err != nil || !res.Changed || strings.Join(res.Data.(map[string]any)["changes"].([]string), " ") != "owner group" {
		t.Fatalf("got %+v, %v", res, err)
	}
	fi, _ := os.Stat(p)
	if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Uid)) != nobody.Uid || strconv.Itoa(int(st.Gid)) != nobody.Gid {
		t.Errorf("owner %d:%d, want %s:%s", st.Uid, st.Gid, nobody.Uid, nobody.Gid)
	}
	// New content keeps the owner the file has.
	if _, err := call(h, "write", false, map[string]any{"path": p, "content": "y"}); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(p)
	if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Uid)) != nobody.Uid {
		t.Errorf("rewrite lost the owner: %d", st.Uid)
	}
	_, err = call(h, "write", false, map[string]any{"path": p, "content": "y", "owner": "orch-no-such-user"})
	wantErr(t, err, fleet.StatusInvalidInput, `no user or group "orch-no-such-user"`)
}

func wantErr(t *testing.T, err error, code fleet.Status, msg string) {
	t.Helper()
	var se *fleet.StatusError
	if !errors.As(err, &se) || se.Status != code || !strings.Contains(se.Message, msg) {
		t.Fatalf("err %v, want %s containing %q", err, code, msg)
	}
}

// TestRefused checks that nothing outside the allowed directory is read
// or written: other paths, "..", symlinks to files and to directories
// outside, a symlink as the file itself, a directory, oversized content.
func TestRefused(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, secret, filepath.Join(dir, "link-to-file"))
	mustSymlink(t, outside, filepath.Join(dir, "link-to-dir"))
	mustSymlink(t, "app.conf", filepath.Join(dir, "inside-link"))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := providertest.New(t, Spec(), `
paths    = ["`+dir+`"]
max_size = 10`, providers.Env{})
	tests := map[string]struct {
		path, content string
		code          fleet.Status
		msg           string
	}{
		"outside":                   {filepath.Join(outside, "x"), "x", fleet.StatusInvalidInput, "outside the directories this node manages"},
		"dot-dot":                   {dir + "/../x", "x", fleet.StatusInvalidInput, "not clean"},
		"the allowed directory":     {dir, "x", fleet.StatusInvalidInput, "outside the directories"},
		"symlink to a file outside": {filepath.Join(dir, "link-to-file"), "x", fleet.StatusInvalidInput, "not a regular file"},
		"through a symlinked dir":   {filepath.Join(dir, "link-to-dir", "secret"), "x", fleet.StatusInvalidInput, "escapes"},
		"symlink inside":            {filepath.Join(dir, "inside-link"), "x", fleet.StatusInvalidInput, "not a regular file"},
		"a directory":               {filepath.Join(dir, "sub"), "x", fleet.StatusInvalidInput, "not a regular file"},
		"too big":                   {filepath.Join(dir, "big"), "0123456789x", fleet.StatusInvalidInput, "more than this node's max_size 10"},
		"missing parent":            {filepath.Join(dir, "nodir", "x"), "x", fleet.StatusAborted, "no such file"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := call(h, "write", false, map[string]any{"path": tt.path, "content": tt.content})
			wantErr(t, err, tt.code, tt.msg)
		})
	}
	if b, _ := os.ReadFile(secret); string(b) != "keep" {
		t.Errorf("the file outside changed: %q", b)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("files appeared outside: %v", ents)
	}
}

func mustSymlink(t *testing.T, old, new string) {
	t.Helper()
	if err := os.Symlink(old, new); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaRefuses(t *testing.T) {
	write, _ := Schema().Action("write")
	for _, in := range []map[string]any{
		{"path": "relative", "content": ""}, {"path": "/x", "content": "", "mode": "4755"}, {"path": "/x", "content": "", "mode": "rwx"},
		{"path": "/x", "content": "", "owner": "root;id"}, {"path": "/x", "content": "", "group": "-g"},
	} {
		if _, err := write.Validate(in); err == nil {
			t.Errorf("%v passed the schema", in)
		}
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, body := range []string{``, `paths = []`, `paths = ["relative"]`, `paths = ["/"]`, `paths = ["/nonexistent/dir"]`, `paths = ["` + dir + `/"]`, `paths = ["` + dir + `"]
max_size = -1`} {
		f, _ := hclsyntax.ParseConfig([]byte(body), "node.hcl", hcl.InitialPos)
		if _, diags := New(f.Body, providers.Env{}); !diags.HasErrors() {
			t.Errorf("%s: accepted", body)
		}
	}
}

// TestShowDiffOff checks that show_diff = false keeps content out of
// replies (for files holding secrets).
func TestShowDiffOff(t *testing.T) {
	dir := t.TempDir()
	h := providertest.New(t, Spec(), `
paths     = ["`+dir+`"]
show_diff = false`, providers.Env{})
	for _, noop := range []bool{true, false} {
		res, err := call(h, "write", noop, map[string]any{"path": filepath.Join(dir, "secret"), "content": "password=hunter2\n"})
		if err != nil {
			t.Fatal(err)
		}
		if d := res.Data.(map[string]any); !res.Changed || d["diff"] != "" {
			t.Errorf("noop %v: changed %v diff %q", noop, res.Changed, d["diff"])
		}
	}
}
