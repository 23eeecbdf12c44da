package packages

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/runner"
	"github.com/orch-fleet/orch/rpc"
)

type nameInput struct {
	Name string `json:"name"`
}

type installInput struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Source  string `json:"source"`
}

type removeInput struct {
	Name  string `json:"name"`
	Purge bool   `json:"purge"`
}

func (h *Handler) status(ctx context.Context, _ *rpc.Call, in *nameInput) (*rpc.Result, error) {
	st, err := h.Query(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	msg := in.Name + " is not installed"
	if st.Installed() {
		msg = fmt.Sprintf("%s %s is installed", in.Name, st.Version)
	}
	d := st.data("")
	delete(d, "previous")
	return &rpc.Result{Message: msg, Data: d}, nil
}

func (h *Handler) install(ctx context.Context, c *rpc.Call, in *installInput) (*rpc.Result, error) {
	want, target := in.Version, in.Name
	if want != "" {
		target = in.Name + "=" + want
	}
	if in.Source != "" {
		path, version, err := h.checkDeb(ctx, in)
		if err != nil {
			return nil, err
		}
		want, target = version, path
	}
	st, err := h.Query(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if st.Installed() && (want == "" || want == st.Version) {
		return &rpc.Result{Message: fmt.Sprintf("%s %s already installed", in.Name, st.Version), Data: st.data(st.Version)}, nil
	}
	now := "not installed"
	if st.Installed() {
		now = st.Version + " installed"
	}
	if c.NoOp {
		return &rpc.Result{Changed: true, Message: fmt.Sprintf("would install %s (now %s)", target, now), Data: st.data(st.Version)}, nil
	}
	if err := h.apt(ctx, "install", "--allow-downgrades", "--", target); err != nil {
		return nil, err
	}
	after, err := h.Query(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if !after.Installed() || want != "" && after.Version != want {
		return nil, fleet.Errorf(fleet.StatusAborted, "installed %s but dpkg says %q %s", target, after.Status, after.Version)
	}
	return &rpc.Result{Changed: true, Message: fmt.Sprintf("installed %s %s (was %s)", in.Name, after.Version, now), Data: after.data(prev(st))}, nil
}

// prev is the version installed before a change, "" if none.
func prev(st State) string {
	if st.Installed() {
		return st.Version
	}
	return ""
}

// checkDeb checks an install's source: a regular .deb file inside one of
// the deb_dirs (after resolving symlinks) holding the named package, at
// the requested version if one is given. It returns the resolved path and
// the file's version.
func (h *Handler) checkDeb(ctx context.Context, in *installInput) (path, version string, err error) {
	real, err := filepath.EvalSymlinks(in.Source)
	if err != nil {
		return "", "", fleet.Errorf(fleet.StatusInvalidInput, "source %s: %v", in.Source, err)
	}
	if !h.allowed(real) {
		return "", "", fleet.Errorf(fleet.StatusInvalidInput, "source %s is not in a directory this node installs .deb files from (deb_dirs: %s)", in.Source, strings.Join(h.debDirs, ", "))
	}
	if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
		return "", "", fleet.Errorf(fleet.StatusInvalidInput, "source %s is not a regular file", in.Source)
	}
	r := runner.Run(ctx, runner.Cmd{Argv: []string{h.dpkgDeb, "--field", "--", real, "Package", "Version"}})
	if r.Err != nil || r.ExitCode != 0 {
		return "", "", fleet.Errorf(fleet.StatusInvalidInput, "source %s is not a readable .deb: %v %s", in.Source, r.Err, r.Tail(2))
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(r.Stdout, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	if name, _, _ := strings.Cut(in.Name, ":"); fields["Package"] != name {
		return "", "", fleet.Errorf(fleet.StatusInvalidInput, "source %s holds package %q, not %q", in.Source, fields["Package"], in.Name)
	}
	if in.Version != "" && fields["Version"] != in.Version {
		return "", "", fleet.Errorf(fleet.StatusInvalidInput, "source %s holds %s version %s, not %s", in.Source, in.Name, fields["Version"], in.Version)
	}
	return real, fields["Version"], nil
}

// allowed reports whether a resolved path lies below one of the deb_dirs.
func (h *Handler) allowed(path string) bool {
	for _, d := range h.debDirs {
		if rel, err := filepath.Rel(d, path); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	return false
}

func (h *Handler) remove(ctx context.Context, c *rpc.Call, in *removeInput) (*rpc.Result, error) {
	st, err := h.Query(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	what := map[bool]string{false: "remove", true: "purge"}[in.Purge]
	// Removed but with configuration files left: only purge has work.
	gone := st.Status == "" || strings.HasSuffix(st.Status, "not-installed")
	if gone || !in.Purge && strings.HasSuffix(st.Status, "config-files") {
		return &rpc.Result{Message: fmt.Sprintf("%s is not installed", in.Name), Data: st.data("")}, nil
	}
	if c.NoOp {
		return &rpc.Result{Changed: true, Message: fmt.Sprintf("would %s %s %s", what, in.Name, st.Version), Data: st.data(prev(st))}, nil
	}
	if err := h.apt(ctx, what, "--", in.Name); err != nil {
		return nil, err
	}
	after, err := h.Query(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if after.Installed() {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s %s but it is still installed (%s)", what, in.Name, after.Version)
	}
	return &rpc.Result{Changed: true, Message: fmt.Sprintf("%sd %s %s", what, in.Name, st.Version), Data: after.data(prev(st))}, nil
}
