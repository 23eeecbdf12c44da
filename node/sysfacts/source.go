package sysfacts

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"
)

// Source keeps a node's system facts fresh: Run collects them at once,
// then every Refresh interval and whenever Refresh is called, and signals
// on Changed when they differ from the last collection. Facts is safe to
// call from any goroutine.
type Source struct {
	builtin  *Collector // nil: built-in facts are off
	external External
	every    time.Duration
	log      *slog.Logger

	mu    sync.RWMutex
	facts map[string]any

	trigger chan struct{}
	changed chan struct{}
	first   chan struct{} // closed after the first collection
}

// NewSource returns the Source of s; log receives a warning per fact
// source that fails (nil: discard).
func NewSource(s Settings, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src := &Source{
		external: External{Dir: s.Dir, Timeout: s.Timeout},
		every:    s.Refresh, log: log, facts: map[string]any{},
		trigger: make(chan struct{}, 1), changed: make(chan struct{}, 1), first: make(chan struct{}),
	}
	if src.every <= 0 {
		src.every = DefaultRefresh
	}
	if s.Builtin {
		src.builtin = &Collector{}
	}
	return src
}

// Facts returns the facts of the last collection: built-in facts with
// the facts.d facts over them. The map is shared: do not modify it.
func (s *Source) Facts() map[string]any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.facts
}

// Changed receives a value after a collection whose facts differ from
// the previous ones (the first collection counts when it finds any).
func (s *Source) Changed() <-chan struct{} { return s.changed }

// Refresh asks Run to collect again now; it does not wait.
func (s *Source) Refresh() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// WaitFirst waits until the first collection is done, ctx is done or
// max has passed, whichever comes first.
func (s *Source) WaitFirst(ctx context.Context, max time.Duration) {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-s.first:
	case <-ctx.Done():
	case <-t.C:
	}
}

// Run collects until ctx is done. It runs one collection at a time; a
// Refresh during a collection starts another right after it.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for first := true; ; first = false {
		s.collect(ctx)
		if first {
			close(s.first)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.trigger:
		}
	}
}

// collect collects once, logs what failed, and stores and signals the
// facts when they changed.
func (s *Source) collect(ctx context.Context) {
	var builtin map[string]any
	if s.builtin != nil {
		var err error
		builtin, err = s.builtin.Collect(ctx)
		s.warn("built-in facts", err)
	}
	external, err := s.external.Collect(ctx)
	s.warn("facts.d", err)
	if ctx.Err() != nil {
		return
	}
	facts := Merge(builtin, external)
	s.mu.Lock()
	same := reflect.DeepEqual(facts, s.facts)
	if !same {
		s.facts = facts
	}
	s.mu.Unlock()
	if !same {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

// warn logs each error that err joins, one line each: one per facts.d
// file that failed.
func (s *Source) warn(msg string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		s.log.Warn(msg, "err", e)
	}
}
