package sysfacts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/orch-fleet/orch/internal/runner"
)

// Limits of a facts.d directory, applied when External leaves them 0.
const (
	DefaultTimeout   = 10 * time.Second // per executable
	DefaultMaxOutput = 1 << 20          // bytes of one file or one executable's stdout
	DefaultMaxFiles  = 256              // entries of the directory considered
)

// External reads the external facts of a facts.d directory, in the order
// of their file names, later files overriding earlier ones (Merge):
//
//   - NAME.yaml, NAME.yml and NAME.json files hold a map of facts;
//   - NAME.txt files hold key=value lines;
//   - any other executable file is run, without arguments, in the
//     directory, with a fixed environment, and prints a JSON object or
//     key=value lines on stdout. It is killed (with its process group)
//     after Timeout, and fails when it exits non-zero or prints more than
//     MaxOutput bytes.
//
// key=value names may be dotted (app.version=1.2 is the fact app.version,
// nested as JSON would nest it); their values are strings. Hidden files,
// backups (NAME~, *.dpkg-old, …) and other non-executable files are
// ignored. A file that is writable by everyone is refused, and so is the
// directory itself when it is.
type External struct {
	Dir       string
	Timeout   time.Duration // 0 = DefaultTimeout
	MaxOutput int           // 0 = DefaultMaxOutput
	MaxFiles  int           // 0 = DefaultMaxFiles
}

// Collect reads every file of the directory. A file that fails is left
// out and named in the error (which joins every such failure); the
// others' facts are returned. A directory that does not exist holds no
// facts and is no error.
func (e External) Collect(ctx context.Context) (map[string]any, error) {
	st, err := os.Stat(e.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return map[string]any{}, err
	}
	if st.Mode().Perm()&0o002 != 0 {
		return map[string]any{}, fmt.Errorf("%s is writable by everyone: its facts are ignored", e.Dir)
	}
	entries, err := os.ReadDir(e.Dir)
	if err != nil {
		return map[string]any{}, err
	}
	var errs []error
	if max := orDefault(e.MaxFiles, DefaultMaxFiles); len(entries) > max {
		errs = append(errs, fmt.Errorf("%s has %d entries: only the first %d are read", e.Dir, len(entries), max))
		entries = entries[:max]
	}
	facts := map[string]any{}
	for _, de := range entries {
		if ctx.Err() != nil {
			return facts, errors.Join(append(errs, ctx.Err())...)
		}
		m, err := e.file(ctx, de.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(e.Dir, de.Name()), err))
			continue
		}
		mergeInto(facts, m)
	}
	return facts, errors.Join(errs...)
}

// file reads the facts of one entry of the directory; nil, nil for an
// entry that is not a facts file.
func (e External) file(ctx context.Context, name string) (map[string]any, error) {
	if ignored(name) {
		return nil, nil
	}
	path := filepath.Join(e.Dir, name)
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil, err
	}
	if st.Mode().Perm()&0o002 != 0 {
		return nil, errors.New("writable by everyone: ignored")
	}
	switch ext := filepath.Ext(name); {
	case ext == ".yaml" || ext == ".yml" || ext == ".json":
		b, err := readCapped(path, orDefault(e.MaxOutput, DefaultMaxOutput))
		if err != nil {
			return nil, err
		}
		return parseMap(b)
	case ext == ".txt":
		b, err := readCapped(path, orDefault(e.MaxOutput, DefaultMaxOutput))
		if err != nil {
			return nil, err
		}
		return parseKeyValues(string(b))
	case st.Mode().Perm()&0o111 != 0:
		return e.run(ctx, path)
	}
	return nil, nil
}

// run runs an executable fact and parses its output.
func (e External) run(ctx context.Context, path string) (map[string]any, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := orDefault(e.MaxOutput, DefaultMaxOutput)
	res := runner.Run(ctx, runner.Cmd{Argv: []string{path}, Dir: e.Dir, Timeout: timeout, Limit: limit, StopAtLimit: true})
	switch {
	case res.Truncated:
		return nil, fmt.Errorf("output larger than %d bytes: killed", limit)
	case res.Err != nil:
		return nil, res.Err
	case res.ExitCode != 0:
		return nil, fmt.Errorf("exit status %d: %s", res.ExitCode, res.Tail(3))
	}
	out := strings.TrimSpace(res.Stdout)
	if strings.HasPrefix(out, "{") {
		return parseMap([]byte(out))
	}
	return parseKeyValues(out)
}

// parseMap reads a YAML or JSON map of facts.
func parseMap(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return normalize(m)
}

// parseKeyValues reads key=value lines; blank lines and # comments are
// skipped; a dotted key nests.
func parseKeyValues(s string) (map[string]any, error) {
	m := map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, DefaultMaxOutput)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
			return nil, fmt.Errorf("line %d: want key=value, got %q", n, truncate(line, 60))
		}
		setDotted(m, k, strings.TrimSpace(v))
	}
	return m, sc.Err()
}

// ignored reports whether a facts.d entry is hidden or a backup.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		strings.Contains(name, ".dpkg-") || strings.HasSuffix(name, ".bak") || strings.HasSuffix(name, ".swp")
}

// readCapped reads a file of at most limit bytes.
func readCapped(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
