package history

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
)

// RunOptions tune a Run.
type RunOptions struct {
	// Warn is told, once, when the run cannot be recorded; the run goes
	// on. Nil: say nothing.
	Warn func(error)
	// Keep keeps the events in memory (Events), for a report written at
	// the end of the run.
	Keep bool
	// Clock is for tests; nil = time.Now.
	Clock func() time.Time
}

// Run records one run: its record and, through Event (the engine's event
// callback, serialised by the engine), its events. Its methods are safe
// for concurrent use.
type Run struct {
	mu     sync.Mutex
	rec    Record
	o      RunOptions
	events []engine.Event
	store  *Store
	failed bool
	once   sync.Once
}

// NewRun starts the record of a run; a zero ID gets NewID, a zero start
// time now. Nothing is written until Attach.
func NewRun(rec Record, o RunOptions) *Run {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if rec.Started.IsZero() {
		rec.Started = o.Clock()
	}
	if rec.ID == "" {
		rec.ID = NewID(rec.Started)
	}
	rec.Outcome = OutcomeRunning
	return &Run{rec: rec, o: o}
}

// ID is the run's ID.
func (r *Run) ID() string { return r.rec.ID }

// Fail gives up recording the run, warning once.
func (r *Run) Fail(err error) {
	r.mu.Lock()
	r.failed = true
	r.store = nil
	r.mu.Unlock()
	r.once.Do(func() {
		if r.o.Warn != nil {
			r.o.Warn(err)
		}
	})
}

// Attach records the run in s from now on: the record first (dropping the
// oldest runs beyond the retention), then every event. A failure gives up
// recording (Fail).
func (r *Run) Attach(ctx context.Context, s *Store) {
	if err := s.prune(ctx, 1); err != nil {
		r.Fail(err)
		return
	}
	r.mu.Lock()
	rec := r.rec
	r.mu.Unlock()
	if err := s.putRecord(ctx, &rec); err != nil {
		r.Fail(err)
		return
	}
	r.mu.Lock()
	if !r.failed {
		r.store = s
	}
	r.mu.Unlock()
}

// Event records an event; it is the engine's event callback.
func (r *Run) Event(ev engine.Event) {
	r.mu.Lock()
	if r.o.Keep {
		r.events = append(r.events, ev)
	}
	s := r.store
	r.mu.Unlock()
	if s == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err == nil {
		_, err = s.js.PublishAsync(s.eventsSubject(r.rec.ID), b)
	}
	if err != nil {
		r.Fail(fmt.Errorf("run history: recording an event: %w", err))
	}
}

// Finish ends the record from the run's report, or from the error of a
// run that could not start (rep nil), and writes it.
func (r *Run) Finish(rep *engine.Report, err error) {
	r.mu.Lock()
	r.rec.end(rep, err, r.o.Clock())
	rec, s := r.rec, r.store
	r.mu.Unlock()
	if s == nil {
		return
	}
	if rep != nil && rep.BrokerLost != "" || s.js.Conn().IsClosed() {
		// No broker to write to: say so at once rather than wait for acks.
		r.Fail(fmt.Errorf("run history: not recorded: the connection to the broker is lost"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-s.js.PublishAsyncComplete():
	case <-ctx.Done():
		r.Fail(fmt.Errorf("run history: events not acknowledged in time"))
		return
	}
	if err := s.putRecord(ctx, &rec); err != nil {
		r.Fail(err)
	}
}

// Record returns the run's record as it stands.
func (r *Run) Record() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec
}

// Events returns the events kept (RunOptions.Keep).
func (r *Run) Events() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.events...)
}

// putRecord writes a run's record.
func (s *Store) putRecord(ctx context.Context, rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := s.js.Publish(ctx, s.recordSubject(rec.ID), b, jetstream.WithExpectStream(StreamName(s.collective))); err != nil {
		return fmt.Errorf("run history: recording run %s: %w", rec.ID, err)
	}
	return nil
}

// Tee returns an event callback calling each of fns in turn (nil ones
// are left out): a view's callback and a Run's.
func Tee(fns ...func(engine.Event)) func(engine.Event) {
	return func(ev engine.Event) {
		for _, fn := range fns {
			if fn != nil {
				fn(ev)
			}
		}
	}
}

// Begin starts recording a run in the collective's history on nc. It
// never fails: when the history cannot be opened or written, o.Warn is
// told once and the run goes on unrecorded (nc nil: not recorded, no
// warning).
func Begin(ctx context.Context, nc *nats.Conn, collective string, rec Record, o RunOptions) *Run {
	run := NewRun(rec, o)
	if nc == nil {
		return run
	}
	st, err := Open(ctx, nc, collective)
	if err != nil {
		run.Fail(err)
		return run
	}
	run.Attach(ctx, st)
	return run
}

// StepsOf returns the resource instances of a catalog and their
// dependencies, for Record.Steps.
func StepsOf(cat *catalog.Catalog) []Step {
	steps := make([]Step, 0, len(cat.Resources))
	for _, r := range cat.Resources {
		steps = append(steps, Step{Addr: r.Addr, Type: r.Type, DependsOn: r.DependsOn})
	}
	return steps
}
