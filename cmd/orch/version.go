package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build, make package). Left at "dev", the version comes from the build
// info the Go toolchain embeds (go install, go build): see buildVersion.
var version = "dev"

// runVersion is `orch version`.
func runVersion(_ context.Context, e *env, _ []string) int {
	fmt.Fprintf(e.stdout, "orch %s\n", currentVersion())
	return exitOK
}

// currentVersion is this binary's version (buildVersion of its build info).
func currentVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return buildVersion(version, bi, ok)
}

// buildVersion is orch's version: the -ldflags stamp when there is one;
// else the main module's version from the build info (go install
// module@v1.2.3 gives "v1.2.3"); else, for a build of a checkout that the
// toolchain could not version ("(devel)"), the VCS revision, with "-dirty"
// when the tree had changes; else "dev".
func buildVersion(stamped string, bi *debug.BuildInfo, ok bool) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	if !ok || bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
}
