package release

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Package metadata.
const (
	pkgName        = "orch"
	pkgMaintainer  = "orch maintainers <orch@orch-fleet.invalid>"
	pkgHomepage    = "https://github.com/orch-fleet/orch"
	pkgLicense     = "Apache-2.0"
	pkgDescription = "declarative orchestration for server fleets\n" +
		"orch compiles HCL playbooks into a graph of resources and applies them\n" +
		"across a fleet over NATS. This package holds the orch command, the node\n" +
		"agent's systemd unit (orch-agent.service, not enabled on install) and\n" +
		"its config /etc/orch/node.hcl."
)

// writeDeb writes o.Out/orch_VERSION_ARCH.deb with nfpm.
func writeDeb(o Options, arch string, es []entry) (string, error) {
	stage := filepath.Join(o.Out, "staging")
	info := &nfpm.Info{
		Name: pkgName, Arch: arch, Platform: "linux", Version: PackageVersion(o.Version),
		Section: "admin", Priority: "optional", Maintainer: pkgMaintainer,
		Description: pkgDescription, Homepage: pkgHomepage, License: pkgLicense,
		Overridables: nfpm.Overridables{
			Suggests: []string{"haproxy", "git", "monitoring-plugins-basic"},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(stage, "postinst"),
				PreRemove:   filepath.Join(stage, "prerm"),
				PostRemove:  filepath.Join(stage, "postrm"),
			},
		},
	}
	for _, e := range es {
		c := &files.Content{Source: e.src, Destination: e.dst, FileInfo: &files.ContentFileInfo{Mode: e.mode}}
		switch {
		case e.src == "":
			c.Type = files.TypeDir
		case e.config:
			c.Type = files.TypeConfigNoReplace
		}
		info.Contents = append(info.Contents, c)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", fmt.Errorf("deb for %s: %w", arch, err)
	}
	path := filepath.Join(o.Out, fmt.Sprintf("%s_%s_%s.deb", pkgName, PackageVersion(o.Version), arch))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	err = deb.Default.Package(info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("deb for %s: %w", arch, err)
	}
	return path, nil
}

// writeTarball writes o.Out/orch_VERSION_linux_ARCH.tar.gz: the entries
// that have a tarball path, under one top directory of that name.
func writeTarball(o Options, arch string, es []entry) (string, error) {
	name := fmt.Sprintf("%s_%s_linux_%s", pkgName, o.Version, arch)
	path := filepath.Join(o.Out, name+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		if e.tar == "" {
			continue
		}
		if err = addToTar(tw, e.src, name+"/"+e.tar, e.mode); err != nil {
			break
		}
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return "", fmt.Errorf("tarball for %s: %w", arch, err)
	}
	return path, nil
}

func addToTar(tw *tar.Writer, src, name string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	h := &tar.Header{Name: name, Mode: int64(mode), Size: int64(len(b)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = tw.Write(b)
	return err
}
