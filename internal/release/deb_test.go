package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// requireDpkg skips the test where it cannot install a package (not root,
// no dpkg), except in CI (CI=true), where that is a failure: the test must
// not silently not run there.
func requireDpkg(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := exec.LookPath("dpkg"); err != nil {
		why = "no dpkg"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot install the .deb (%s); CI must run this test as root on Debian", why)
	}
	t.Skipf("cannot install the .deb: %s", why)
}

// run runs a command and fails the test when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func installed(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", pkg).Output()
	return err == nil && string(out) == "installed"
}

// TestDebInstall builds the .deb for this machine's architecture, installs
// it with dpkg, checks its files, its unit and its binary, and purges it,
// leaving the machine as it was (also when a check fails). The agent is
// not started: systemd is not PID 1 on the CI machine, so the unit is only
// verified.
func TestDebInstall(t *testing.T) {
	if raceEnabled {
		// Compressing the 25 MB binary in race-instrumented code takes
		// minutes and tests no concurrency; make test's plain pass runs it.
		t.Skip("under -race: the plain go test pass installs the .deb")
	}
	requireDpkg(t)
	if testing.Short() {
		t.Skip("-short")
	}
	if installed(pkgName) {
		if os.Getenv("CI") != "true" {
			t.Skip("an orch package is installed on this machine; the test would replace and purge it")
		}
		t.Log("an orch package is installed: replacing it (CI machine)")
	}
	const version = "v0.0.1-pkgtest"
	as, err := Run(t.Context(), Options{Root: "../..", Out: t.TempDir(), Version: version, Arches: []string{runtime.GOARCH}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if installed(pkgName) || exec.Command("dpkg-query", "-W", pkgName).Run() == nil {
			if out, err := exec.Command("dpkg", "--purge", pkgName).CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge: %v\n%s", err, out)
			}
		}
	})
	// --force-unsafe-io: no fsync per file; a test install need not survive a crash.
	run(t, "dpkg", "--force-unsafe-io", "-i", as[0].Deb)

	t.Run("files", func(t *testing.T) { checkInstalledFiles(t) })
	t.Run("unit", func(t *testing.T) { verifyUnit(t) })
	t.Run("binary", func(t *testing.T) {
		if out := run(t, BinPath, "version"); out != "orch "+version+"\n" {
			t.Errorf("orch version: %q", out)
		}
		// --check loads the config and builds the node (creating its key in
		// /var/lib/orch); it needs no trusted client.
		if out := run(t, BinPath, "agent", "--config", ConfPath, "--check"); !strings.Contains(out, "config ok") {
			t.Errorf("orch agent --check: %q", out)
		}
	})

	run(t, "dpkg", "--purge", pkgName)
	for _, p := range []string{BinPath, UnitPath, ConfPath, DataDir, LogDir, DocDir} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after dpkg --purge", p)
		}
	}
}

// checkInstalledFiles checks what dpkg installed and what it registered.
func checkInstalledFiles(t *testing.T) {
	for _, p := range []string{BinPath, UnitPath, ConfPath, DocDir + "/copyright", BashComplete, ZshComplete, FishComplete,
		filepath.Join(ManDir, "orch.1.gz"), filepath.Join(ManDir, "orch-agent.1.gz")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	for dir, mode := range map[string]os.FileMode{DataDir: 0o750, LogDir: 0o750} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want a directory with mode %v", dir, fi, err, mode)
		}
	}
	if fi, err := os.Stat(BinPath); err == nil && fi.Mode().Perm() != 0o755 {
		t.Errorf("%s mode %v", BinPath, fi.Mode())
	}
	if out := run(t, "dpkg-query", "-W", "-f", "${Conffiles}", pkgName); !strings.Contains(out, ConfPath) {
		t.Errorf("conffiles %q lack %s", out, ConfPath)
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit (the man
// page check too, where man is installed).
func verifyUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze missing: make deps installs the systemd package")
		}
		t.Skip("systemd-analyze missing (Debian package systemd)")
	}
	args := []string{"verify"}
	if _, err := exec.LookPath("man"); err != nil {
		args = append(args, "--man=no")
	}
	out, err := exec.Command("systemd-analyze", append(args, UnitPath)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "orch-agent") {
		t.Errorf("systemd-analyze verify %s: %v\n%s", UnitPath, err, out)
	}
}
