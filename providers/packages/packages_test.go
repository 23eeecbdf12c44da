package packages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/providertest"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/rpc"
)

// needDpkg skips the test unless dpkg and apt-get are here and it runs as
// root (CI: a Debian container, as root).
func needDpkg(t *testing.T) {
	t.Helper()
	for _, b := range []string{"dpkg", "dpkg-deb", "dpkg-query", "apt-get"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("no %s on this machine", b)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("installing packages needs root")
	}
}

// buildDeb builds a tiny .deb of package name at version in dir with
// dpkg-deb: one file under /usr/share/NAME and one conffile /etc/NAME.conf.
func buildDeb(t *testing.T, dir, name, version string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	files := map[string]string{
		"DEBIAN/control":                     fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: orch tests <tests@localhost>\nSection: misc\nPriority: optional\nDescription: orch package provider test\n", name, version),
		"DEBIAN/conffiles":                   "/etc/" + name + ".conf\n",
		"etc/" + name + ".conf":              "setting = 1\n",
		"usr/share/" + name + "/version.txt": version + "\n",
	}
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, name+"_"+version+"_all.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	return deb
}

// testPackage returns a package name no one else uses, and purges it
// (and its conffile) when the test ends, leaving the machine as it was.
func testPackage(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("orch-test-pkg-%d", os.Getpid())
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", name).CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg --purge %s: %v\n%s", name, err, out)
		}
		out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "--", name).CombinedOutput()
		if !strings.Contains(string(out), "no packages found") && !strings.Contains(string(out), "not-installed") {
			t.Errorf("cleanup: %s is still known to dpkg: %s", name, out)
		}
		for _, p := range []string{"/etc/" + name + ".conf", "/usr/share/" + name} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("cleanup: %s is still there", p)
			}
		}
	})
	return name
}

func call(h rpc.Handler, act string, noop bool, in map[string]any) (*rpc.Result, error) {
	return h.Handle(context.Background(), &rpc.Call{Agent: "package", Action: act, NoOp: noop, Input: in})
}

// TestInstallUpgradeRemove installs, upgrades, downgrades, removes and
// purges a package the test builds, through apt-get with local files
// (never the network), checking each step's change, no-op report and
// what dpkg says afterwards.
func TestInstallUpgradeRemove(t *testing.T) {
	needDpkg(t)
	name := testPackage(t)
	debs := t.TempDir()
	v1, v2 := buildDeb(t, debs, name, "1.0-1"), buildDeb(t, debs, name, "1.1-1")
	h := providertest.New(t, Spec(), `deb_dirs = ["`+debs+`"]`, providers.Env{})
	conf := "/etc/" + name + ".conf"
	steps := []struct {
		action  string
		noop    bool
		in      map[string]any
		changed bool
		msg     string
		status  string // dpkg status afterwards, "" unknown
		version string
	}{
		{"install", true, map[string]any{"source": v1}, true, "would install " + v1 + " (now not installed)", "", ""},
		{"install", false, map[string]any{"source": v1}, true, "installed " + name + " 1.0-1 (was not installed)", "install ok installed", "1.0-1"},
		{"install", false, map[string]any{"source": v1}, false, name + " 1.0-1 already installed", "install ok installed", "1.0-1"},
		{"install", false, map[string]any{}, false, "already installed", "install ok installed", "1.0-1"},
		{"install", false, map[string]any{"version": "1.0-1"}, false, "already installed", "install ok installed", "1.0-1"},
		{"install", true, map[string]any{"source": v2}, true, "would install " + v2 + " (now 1.0-1 installed)", "install ok installed", "1.0-1"},
		{"install", false, map[string]any{"source": v2}, true, "installed " + name + " 1.1-1 (was 1.0-1 installed)", "install ok installed", "1.1-1"},
		{"install", false, map[string]any{"source": v1, "version": "1.0-1"}, true, "installed " + name + " 1.0-1 (was 1.1-1 installed)", "install ok installed", "1.0-1"},
		{"remove", true, map[string]any{}, true, "would remove " + name + " 1.0-1", "install ok installed", "1.0-1"},
		{"remove", false, map[string]any{}, true, "removed " + name + " 1.0-1", "deinstall ok config-files", "1.0-1"},
		{"remove", false, map[string]any{}, false, name + " is not installed", "deinstall ok config-files", "1.0-1"},
		{"remove", true, map[string]any{"purge": true}, true, "would purge", "deinstall ok config-files", "1.0-1"},
		{"remove", false, map[string]any{"purge": true}, true, "purged " + name, "", ""},
		{"remove", false, map[string]any{"purge": true}, false, name + " is not installed", "", ""},
	}
	for i, s := range steps {
		s.in["name"] = name
		res, err := call(h, s.action, s.noop, s.in)
		if err != nil {
			t.Fatalf("step %d %s %v: %v", i, s.action, s.in, err)
		}
		if res.Changed != s.changed || !strings.Contains(res.Message, s.msg) {
			t.Errorf("step %d %s %v (noop %v): changed %v %q, want %v %q", i, s.action, s.in, s.noop, res.Changed, res.Message, s.changed, s.msg)
		}
		st, err := h.(*Handler).Query(context.Background(), name)
		if err != nil || st.Status != s.status || s.status != "" && st.Version != s.version {
			t.Errorf("step %d: dpkg says %+v (%v), want %q %s", i, st, err, s.status, s.version)
		}
		if _, err := os.Stat(conf); (err == nil) != (s.status != "") {
			t.Errorf("step %d: %s exists: %v", i, conf, err == nil)
		}
	}
}

// TestInstallRefused checks what install refuses before touching dpkg:
// sources outside deb_dirs (also through a symlink), a .deb holding
// another package or version, and a package no repository has.
func TestInstallRefused(t *testing.T) {
	needDpkg(t)
	name := testPackage(t)
	debs, elsewhere := t.TempDir(), t.TempDir()
	inside := buildDeb(t, debs, name, "1.0-1")
	outside := buildDeb(t, elsewhere, name, "2.0-1")
	link := filepath.Join(debs, "link.deb")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	h := providertest.New(t, Spec(), `deb_dirs = ["`+debs+`"]`, providers.Env{})
	tests := map[string]struct {
		in   map[string]any
		code fleet.Status
		msg  string
	}{
		"outside deb_dirs":           {map[string]any{"name": name, "source": outside}, fleet.StatusInvalidInput, "not in a directory this node installs .deb files from"},
		"symlink out of deb_dirs":    {map[string]any{"name": name, "source": link}, fleet.StatusInvalidInput, "not in a directory"},
		"another package":            {map[string]any{"name": "orch-test-other", "source": inside}, fleet.StatusInvalidInput, `holds package "` + name + `", not "orch-test-other"`},
		"another version":            {map[string]any{"name": name, "source": inside, "version": "9.9"}, fleet.StatusInvalidInput, "holds " + name + " version 1.0-1, not 9.9"},
		"missing file":               {map[string]any{"name": name, "source": filepath.Join(debs, "nope.deb")}, fleet.StatusInvalidInput, "no such file"},
		"not in any configured repo": {map[string]any{"name": "orch-test-no-such-package-zz"}, fleet.StatusAborted, "Unable to locate package"},
	}
	for tn, tt := range tests {
		t.Run(tn, func(t *testing.T) {
			_, err := call(h, "install", false, tt.in)
			var se *fleet.StatusError
			if !errors.As(err, &se) || se.Status != tt.code || !strings.Contains(se.Message, tt.msg) {
				t.Fatalf("err %v, want %s containing %q", err, tt.code, tt.msg)
			}
		})
	}
	if st, _ := h.(*Handler).Query(context.Background(), name); st.Status != "" {
		t.Errorf("a refused install left %+v", st)
	}
}

func TestSchemaRefuses(t *testing.T) {
	install, _ := Schema().Action("install")
	for _, in := range []map[string]any{
		{"name": "nginx; rm -rf /"}, {"name": "-f"}, {"name": "Nginx"}, {"name": "$(id)"},
		{"name": "nginx", "version": "1.0 --force"}, {"name": "nginx", "version": "-1"},
		{"name": "nginx", "source": "relative.deb"}, {"name": "nginx", "source": "/tmp/x.deb;id"}, {"name": "nginx", "source": "/tmp/x.rpm"},
	} {
		if _, err := install.Validate(in); err == nil {
			t.Errorf("%v passed the schema", in)
		}
	}
	for _, in := range []map[string]any{{"name": "nginx"}, {"name": "libc6:amd64", "version": "2.36-9+deb12u4"}, {"name": "g++", "version": "1:2.3~rc1"}, {"name": "x1", "source": "/var/cache/orch/x1_1.0_all.deb"}} {
		if _, err := install.Validate(in); err != nil {
			t.Errorf("%v refused: %v", in, err)
		}
	}
}

func TestParseQuery(t *testing.T) {
	tests := map[string]State{
		"install ok installed\t2.36-9+deb12u4\n": {Name: "p", Status: "install ok installed", Version: "2.36-9+deb12u4"},
		"deinstall ok config-files\t1.0-1\n":     {Name: "p", Status: "deinstall ok config-files", Version: "1.0-1"},
		"unknown ok not-installed\t\n":           {Name: "p", Status: "unknown ok not-installed"},
	}
	for out, want := range tests {
		if got := ParseQuery("p", out); got != want {
			t.Errorf("%q: got %+v, want %+v", out, got, want)
		}
	}
}
