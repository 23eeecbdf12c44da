package release

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// dist holds the packaging files: orch-agent.service, node.hcl and the
// Debian maintainer scripts postinst, prerm and postrm.
//
//go:embed dist
var dist embed.FS

// File returns the packaging file name (e.g. "orch-agent.service").
func File(name string) ([]byte, error) { return fs.ReadFile(dist, "dist/"+name) }

// Options say what to build.
type Options struct {
	Root    string   // the source tree (holds go.mod, LICENSE, README.md); "" = "."
	Out     string   // where the artefacts go; created if missing
	Version string   // stamped into the binary and naming the packages
	Arches  []string // GOARCH values; nil = the host's
	Go      string   // the go command; "" = "go"
}

// Artefacts are the files built for one architecture.
type Artefacts struct {
	Arch    string
	Binary  string
	Deb     string
	Tarball string
}

// Run builds the binary, the tarball and the .deb for every architecture
// of o and returns what it built.
func Run(ctx context.Context, o Options) ([]Artefacts, error) {
	o = o.withDefaults()
	if o.Version == "" {
		return nil, errors.New("release: no version")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	// Completions and man pages come from a binary this machine can run.
	host, err := Build(ctx, o, runtime.GOARCH, filepath.Join(o.Out, "linux_"+runtime.GOARCH))
	if err != nil {
		return nil, err
	}
	gen := filepath.Join(o.Out, "generated")
	if err := generate(ctx, host, gen); err != nil {
		return nil, err
	}
	var out []Artefacts
	for _, arch := range o.Arches {
		a, err := buildArch(ctx, o, arch, host, gen)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = "."
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if len(o.Arches) == 0 {
		o.Arches = []string{runtime.GOARCH}
	}
	return o
}

// buildArch builds the binary (unless it is the host's, already built) and
// the packages of one architecture.
func buildArch(ctx context.Context, o Options, arch, host, gen string) (Artefacts, error) {
	a := Artefacts{Arch: arch, Binary: host}
	var err error
	if arch != runtime.GOARCH {
		if a.Binary, err = Build(ctx, o, arch, filepath.Join(o.Out, "linux_"+arch)); err != nil {
			return a, err
		}
	}
	entries, err := contents(o, a.Binary, gen)
	if err != nil {
		return a, err
	}
	if a.Deb, err = writeDeb(o, arch, entries); err != nil {
		return a, err
	}
	a.Tarball, err = writeTarball(o, arch, entries)
	return a, err
}

// Build cross-compiles orch for linux/arch into dir/orch: static
// (CGO_ENABLED=0), without build paths (-trimpath), stripped, with the
// version stamped.
func Build(ctx context.Context, o Options, arch, dir string) (string, error) {
	o = o.withDefaults()
	bin := filepath.Join(dir, "orch")
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+o.Version, "-o", abs, "./cmd/orch")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building orch for linux/%s: %v\n%s", arch, err, out)
	}
	return bin, nil
}

// generate writes the completions (bash, zsh, fish) and man pages that bin
// prints into dir.
func generate(ctx context.Context, bin, dir string) error {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, err := exec.CommandContext(ctx, bin, "completion", shell).Output()
		if err != nil {
			return fmt.Errorf("orch completion %s: %w", shell, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "completion"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "completion", shell), out, 0o644); err != nil {
			return err
		}
	}
	if out, err := exec.CommandContext(ctx, bin, "man", filepath.Join(dir, "man")).CombinedOutput(); err != nil {
		return fmt.Errorf("orch man: %v\n%s", err, out)
	}
	return nil
}

// PackageVersion turns a version (a tag such as v1.2.0 or v1.2.0-3-gabcdef,
// or a bare commit hash from git describe --always) into one that Debian's
// version ordering accepts: it must start with a digit.
func PackageVersion(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v != "" && v[0] >= '0' && v[0] <= '9' && strings.Contains(v, ".") {
		return v
	}
	return "0.0.0-git." + strings.ReplaceAll(v, "-", ".")
}
