package history

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/engine"
)

// Filter selects runs for List; zero fields select all.
type Filter struct {
	// Playbook matches the recorded path, or its base name.
	Playbook string
	// Outcome is ok, failed or running.
	Outcome engine.Outcome
	// Since keeps runs started at or after it.
	Since time.Time
	// Limit keeps the newest Limit runs; 0 = all.
	Limit int
}

func (f Filter) match(r *Record) bool {
	switch {
	case f.Playbook != "" && r.Playbook != f.Playbook && filepath.Base(r.Playbook) != f.Playbook:
		return false
	case f.Outcome != "" && r.Outcome != f.Outcome:
		return false
	case !f.Since.IsZero() && r.Started.Before(f.Since):
		return false
	}
	return true
}

// List returns the records of the runs the filter selects, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]*Record, error) {
	ids, err := s.ids(ctx)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var out []*Record
	err = s.read(ctx, []string{s.recordSubject("*")}, jetstream.DeliverLastPerSubjectPolicy, func(m jetstream.Msg) error {
		var r Record
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			return fmt.Errorf("run history: %s: %w", m.Subject(), err)
		}
		if f.match(&r) {
			out = append(out, &r)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *Record) int { return strings.Compare(b.ID, a.ID) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, err
}

// Events returns the events of run id recorded so far.
func (s *Store) Events(ctx context.Context, id string) ([]engine.Event, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.eventsSubject(id)))
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	var out []engine.Event
	err = s.read(ctx, []string{s.eventsSubject(id)}, jetstream.DeliverAllPolicy, func(m jetstream.Msg) error {
		var ev engine.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			return fmt.Errorf("run history: run %s: %w", id, err)
		}
		out = append(out, ev)
		return nil
	})
	return out, err
}

// read delivers the messages of the subjects (at least one must exist)
// until none is pending.
func (s *Store) read(ctx context.Context, subjects []string, dp jetstream.DeliverPolicy, fn func(jetstream.Msg) error) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.consume(rctx, subjects, dp, func(m jetstream.Msg) (bool, error) {
		if err := fn(m); err != nil {
			return true, err
		}
		md, err := m.Metadata()
		return err != nil || md.NumPending == 0, err
	})
}

// consume delivers the messages of the subjects to fn, in order, until fn
// says done or ctx ends.
func (s *Store) consume(ctx context.Context, subjects []string, dp jetstream.DeliverPolicy, fn func(jetstream.Msg) (done bool, err error)) error {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: dp})
	if err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			it.Stop()
		case <-stopped:
		}
	}()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("run history: %w", err)
		}
		if done, err := fn(m); done || err != nil {
			return err
		}
	}
}

// Follow calls fn with every event of run id, those recorded so far and
// then each as it is recorded, until the run ends (its run_end event, or
// its record saying it ended without one) or ctx ends.
func (s *Store) Follow(ctx context.Context, id string, fn func(engine.Event)) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	rec := s.recordSubject(id)
	return s.consume(ctx, []string{rec, s.eventsSubject(id)}, jetstream.DeliverAllPolicy, func(m jetstream.Msg) (bool, error) {
		if m.Subject() == rec {
			var r Record
			err := json.Unmarshal(m.Data(), &r)
			return err != nil || r.Outcome != OutcomeRunning, err
		}
		var ev engine.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			return true, fmt.Errorf("run history: run %s: %w", id, err)
		}
		fn(ev)
		return ev.Type == engine.EventRunEnd, nil
	})
}
