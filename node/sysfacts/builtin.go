package sysfacts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// DefaultFQDNTimeout bounds the name lookup behind networking.fqdn.
const DefaultFQDNTimeout = 2 * time.Second

// maxProcFile caps what is read of any one /proc or /etc file.
const maxProcFile = 1 << 20

// Collector reads the built-in facts. Its zero value reads the running
// system; tests point Root at a fixture tree and replace the functions
// that do not read files.
type Collector struct {
	// Root is the directory that holds proc/ and etc/; "" means "/".
	Root string
	// Interfaces lists the network interfaces; nil means net.Interfaces.
	Interfaces func() ([]Interface, error)
	// LookupCNAME resolves the host name to its canonical name for
	// networking.fqdn; nil means net.DefaultResolver.LookupCNAME, which
	// reads /etc/hosts before asking DNS.
	LookupCNAME func(ctx context.Context, host string) (string, error)
	// FQDNTimeout bounds LookupCNAME; 0 means DefaultFQDNTimeout.
	FQDNTimeout time.Duration
}

// Collect returns the built-in facts. A part that cannot be read (no
// /etc/os-release, say) is left out and named in the error, which joins
// every such problem; the facts returned hold everything else.
func (c Collector) Collect(ctx context.Context) (map[string]any, error) {
	facts := map[string]any{}
	var errs []error
	parts := []struct {
		name string
		read func(context.Context) (map[string]any, error)
	}{
		{"os", c.osFacts},
		{"kernel", c.kernelFacts},
		{"cpu", c.cpuFacts},
		{"memory", c.memoryFacts},
		{"networking", c.networkingFacts},
		{"system", c.systemFacts},
	}
	for _, p := range parts {
		m, err := p.read(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s facts: %w", p.name, err))
		}
		if len(m) > 0 {
			facts[p.name] = m
		}
	}
	out, err := normalize(facts)
	if err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}

// path returns the name of a system file under Root.
func (c Collector) path(name string) string {
	if c.Root == "" {
		return name
	}
	return filepath.Join(c.Root, name)
}

// read reads a system file under Root, at most maxProcFile bytes.
func (c Collector) read(name string) ([]byte, error) {
	f, err := os.Open(c.path(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxProcFile))
}

// readLine reads a one-line system file such as /proc/sys/kernel/osrelease.
func (c Collector) readLine(name string) (string, error) {
	b, err := c.read(name)
	return strings.TrimSpace(string(b)), err
}

// kernelFacts reads what uname reports from /proc/sys/kernel, which holds
// the same values and can be a fixture.
func (c Collector) kernelFacts(context.Context) (map[string]any, error) {
	m := map[string]any{}
	var errs []error
	for _, f := range []struct{ fact, file string }{
		{"name", "/proc/sys/kernel/ostype"},
		{"release", "/proc/sys/kernel/osrelease"},
		{"version", "/proc/sys/kernel/version"},
	} {
		v, err := c.readLine(f.file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m[f.fact] = v
	}
	m["machine"] = c.machine()
	return m, errors.Join(errs...)
}

// machine is uname -m. /proc/sys/kernel/arch is recent (Linux 6.1);
// without it, the machine is the one this binary was built for.
func (c Collector) machine() string {
	if m, err := c.readLine("/proc/sys/kernel/arch"); err == nil && m != "" {
		return m
	}
	return machineOf(runtime.GOARCH)
}

// cpuFacts counts the processors of /proc/cpuinfo.
func (c Collector) cpuFacts(context.Context) (map[string]any, error) {
	b, err := c.read("/proc/cpuinfo")
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	count := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			count++
		case "model name":
			if _, seen := m["model"]; !seen {
				m["model"] = strings.TrimSpace(v)
			}
		}
	}
	if count == 0 {
		return m, errors.New("no processor in /proc/cpuinfo")
	}
	m["count"] = count
	return m, nil
}

// memoryFacts reads the totals of /proc/meminfo, in MiB.
func (c Collector) memoryFacts(context.Context) (map[string]any, error) {
	b, err := c.read("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	names := map[string]string{"MemTotal": "total_mb", "SwapTotal": "swap_total_mb"}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fact := names[k]
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if fact == "" || err != nil {
			continue
		}
		m[fact] = kb / 1024
	}
	if _, ok := m["total_mb"]; !ok {
		return m, errors.New("no MemTotal in /proc/meminfo")
	}
	return m, nil
}

// systemFacts reads the boot time (btime of /proc/stat).
func (c Collector) systemFacts(context.Context) (map[string]any, error) {
	b, err := c.read("/proc/stat")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("btime %q: %w", v, err)
			}
			return map[string]any{"boot_time": time.Unix(sec, 0).UTC().Format(time.RFC3339)}, nil
		}
	}
	return nil, errors.New("no btime in /proc/stat")
}

// machineOf names a Go architecture as uname -m does.
func machineOf(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	case "arm":
		return "armv7l"
	}
	return goarch
}

// archOf names a machine (uname -m) as Debian packages and Go release
// archives do: x86_64 is amd64, aarch64 is arm64.
func archOf(machine string) string {
	switch machine {
	case "x86_64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "i386", "i486", "i586", "i686":
		return "386"
	}
	if strings.HasPrefix(machine, "armv") {
		return "arm"
	}
	return machine
}
