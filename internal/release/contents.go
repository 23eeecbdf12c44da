package release

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// entry is one file or directory of the packages.
type entry struct {
	src    string      // file on disk; "" for a directory
	dst    string      // absolute path when installed
	tar    string      // path in the tarball; "" = not in it
	mode   os.FileMode // permissions
	config bool        // a conffile: upgrades keep the admin's changes
}

// Installed paths.
const (
	BinPath      = "/usr/bin/orch"
	UnitPath     = "/usr/lib/systemd/system/orch-agent.service"
	ConfPath     = "/etc/orch/node.hcl"
	DataDir      = "/var/lib/orch"
	LogDir       = "/var/log/orch"
	DocDir       = "/usr/share/doc/orch"
	ManDir       = "/usr/share/man/man1"
	BashComplete = "/usr/share/bash-completion/completions/orch"
	ZshComplete  = "/usr/share/zsh/vendor-completions/_orch"
	FishComplete = "/usr/share/fish/vendor_completions.d/orch.fish"
)

// contents lists what the packages hold: the binary, the embedded
// packaging files (written under o.Out/staging), the licence and README,
// and the generated completions and man pages (gzipped).
func contents(o Options, bin, gen string) ([]entry, error) {
	stage := filepath.Join(o.Out, "staging")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{"orch-agent.service", "node.hcl", "postinst", "prerm", "postrm"} {
		b, err := File(name)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(stage, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	es := []entry{
		{src: bin, dst: BinPath, tar: "orch", mode: 0o755},
		{src: filepath.Join(stage, "orch-agent.service"), dst: UnitPath, tar: "systemd/orch-agent.service", mode: 0o644},
		{src: filepath.Join(stage, "node.hcl"), dst: ConfPath, tar: "etc/node.hcl", mode: 0o644, config: true},
		{dst: DataDir, mode: 0o750},
		{dst: LogDir, mode: 0o750},
		{src: filepath.Join(o.Root, "LICENSE"), dst: DocDir + "/copyright", tar: "LICENSE", mode: 0o644},
		{src: filepath.Join(o.Root, "README.md"), dst: DocDir + "/README.md", tar: "README.md", mode: 0o644},
		{src: filepath.Join(gen, "completion", "bash"), dst: BashComplete, tar: "completions/orch.bash", mode: 0o644},
		{src: filepath.Join(gen, "completion", "zsh"), dst: ZshComplete, tar: "completions/_orch", mode: 0o644},
		{src: filepath.Join(gen, "completion", "fish"), dst: FishComplete, tar: "completions/orch.fish", mode: 0o644},
	}
	man, err := gzipManPages(filepath.Join(gen, "man"), filepath.Join(stage, "man"))
	if err != nil {
		return nil, err
	}
	for _, m := range man {
		es = append(es, entry{src: m, dst: ManDir + "/" + filepath.Base(m), tar: "man/man1/" + filepath.Base(m), mode: 0o644})
	}
	return es, nil
}

// gzipManPages compresses every .1 page of dir into out (Debian installs
// man pages gzipped) and returns the .1.gz files, sorted.
func gzipManPages(dir, out string) ([]string, error) {
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	sort.Strings(pages)
	var gz []string
	for _, p := range pages {
		dst := filepath.Join(out, filepath.Base(p)+".gz")
		if err := gzipFile(p, dst); err != nil {
			return nil, err
		}
		gz = append(gz, dst)
	}
	return gz, nil
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		f.Close()
		return err
	}
	zw.Name = strings.TrimSuffix(filepath.Base(dst), ".gz")
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
