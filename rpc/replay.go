package rpc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReplayGuard remembers the ids of authenticated requests until they
// expire: a node refuses an id it has already seen within its validity.
type ReplayGuard interface {
	// Add records id until forget and reports whether it was new. An
	// error refuses the request (the guard fails closed).
	Add(id string, forget time.Time) (fresh bool, err error)
}

// DefaultReplayEntries bounds a replay guard: entries expire with the
// request's ttl (at most the server's MaxTTL), and when this many are
// live at once new requests are refused rather than the guard grown.
const DefaultReplayEntries = 1 << 20

// ErrReplayGuardFull is returned by Add when the guard holds its maximum
// of live entries.
var ErrReplayGuardFull = errors.New("replay guard full")

// memoryGuard is a ReplayGuard in memory.
type memoryGuard struct {
	mu        sync.Mutex
	max       int
	ids       map[string]time.Time
	lastPrune time.Time
}

// NewMemoryReplayGuard returns a ReplayGuard in memory holding at most max
// live entries (0 = DefaultReplayEntries); it forgets everything when the
// process ends.
func NewMemoryReplayGuard(max int) ReplayGuard { return newMemoryGuard(max) }

func newMemoryGuard(max int) *memoryGuard {
	if max <= 0 {
		max = DefaultReplayEntries
	}
	return &memoryGuard{max: max, ids: map[string]time.Time{}}
}

func (g *memoryGuard) Add(id string, forget time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.add(id, forget, time.Now())
}

// add is Add with g.mu held.
func (g *memoryGuard) add(id string, forget, now time.Time) (bool, error) {
	if now.Sub(g.lastPrune) > 10*time.Second || len(g.ids) >= g.max {
		g.prune(now)
	}
	if t, dup := g.ids[id]; dup && !now.After(t) {
		return false, nil
	}
	if len(g.ids) >= g.max {
		return false, fmt.Errorf("%w: %d live request ids", ErrReplayGuardFull, len(g.ids))
	}
	g.ids[id] = forget
	return true, nil
}

func (g *memoryGuard) prune(now time.Time) {
	for k, t := range g.ids {
		if now.After(t) {
			delete(g.ids, k)
		}
	}
	g.lastPrune = now
}

// FileReplayGuard is a ReplayGuard that survives restarts: every id is
// appended to a file before the request runs, and the file is read back
// when the guard is opened. Expired entries are dropped when the file is
// rewritten (at open, and when it has grown to twice its live entries).
type FileReplayGuard struct {
	mem     *memoryGuard
	path    string
	f       *os.File
	written int // lines in the file
}

// OpenFileReplayGuard opens (or creates) the guard kept in path, holding
// at most max live entries (0 = DefaultReplayEntries).
func OpenFileReplayGuard(path string, max int) (*FileReplayGuard, error) {
	g := &FileReplayGuard{mem: newMemoryGuard(max), path: path}
	if err := g.load(time.Now()); err != nil {
		return nil, err
	}
	if err := g.rewrite(); err != nil {
		return nil, err
	}
	return g, nil
}

// load reads the live entries of the file; a missing file is empty, a
// malformed line is skipped.
func (g *FileReplayGuard) load(now time.Time) error {
	f, err := os.Open(g.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening the replay guard: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ns, id, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil || id == "" {
			continue
		}
		if forget := time.Unix(0, n); now.Before(forget) && len(g.mem.ids) < g.mem.max {
			g.mem.ids[id] = forget
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the replay guard %s: %w", g.path, err)
	}
	return nil
}

// rewrite writes the live entries to a new file, renames it over the old
// one and appends to it from then on.
func (g *FileReplayGuard) rewrite() error {
	g.mem.prune(time.Now())
	if err := os.MkdirAll(filepath.Dir(g.path), 0o700); err != nil {
		return fmt.Errorf("creating the replay guard's directory: %w", err)
	}
	tmp := g.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("rewriting the replay guard: %w", err)
	}
	w := bufio.NewWriter(f)
	for id, t := range g.mem.ids {
		fmt.Fprintf(w, "%d %s\n", t.UnixNano(), id)
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close(), os.Rename(tmp, g.path)); err != nil {
		return fmt.Errorf("rewriting the replay guard %s: %w", g.path, err)
	}
	if g.f != nil {
		_ = g.f.Close()
	}
	if g.f, err = os.OpenFile(g.path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return fmt.Errorf("opening the replay guard: %w", err)
	}
	g.written = len(g.mem.ids)
	return nil
}

// Add records id in memory and in the file; an id that cannot be written
// is refused.
func (g *FileReplayGuard) Add(id string, forget time.Time) (bool, error) {
	g.mem.mu.Lock()
	defer g.mem.mu.Unlock()
	if strings.ContainsAny(id, " \n") {
		return false, fmt.Errorf("request id %q holds a space or newline", id)
	}
	fresh, err := g.mem.add(id, forget, time.Now())
	if !fresh || err != nil {
		return fresh, err
	}
	if _, err := fmt.Fprintf(g.f, "%d %s\n", forget.UnixNano(), id); err != nil {
		delete(g.mem.ids, id)
		return false, fmt.Errorf("writing the replay guard: %w", err)
	}
	g.written++
	if g.written > 2*len(g.mem.ids)+4096 {
		if err := g.rewrite(); err != nil {
			return true, nil // the id is recorded; the next rewrite tries again
		}
	}
	return true, nil
}

// Close closes the file.
func (g *FileReplayGuard) Close() error {
	g.mem.mu.Lock()
	defer g.mem.mu.Unlock()
	if g.f == nil {
		return nil
	}
	err := g.f.Close()
	g.f = nil
	return err
}
