package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/rpc"
)

// Default retention of a collective's run history.
const (
	DefaultMaxAge  = 30 * 24 * time.Hour
	DefaultMaxRuns = 1000
)

// metaMaxRuns is the stream metadata key holding Retention.MaxRuns.
const metaMaxRuns = "orch_max_runs"

// Retention says how long runs are kept: at most MaxRuns runs, none older
// than MaxAge.
type Retention struct {
	MaxAge  time.Duration `json:"max_age_ns"`
	MaxRuns int           `json:"max_runs"`
}

// Store is a collective's run history on the bus.
type Store struct {
	js         jetstream.JetStream
	stream     jetstream.Stream
	collective string
}

// StreamName is the name of the collective's run history stream.
func StreamName(collective string) string { return collective + "_runs" }

// Open opens the collective's run history, creating its stream (file
// storage, default retention, one replica per broker of the cluster up to
// three, as the state buckets: rpc.EnsureStream) when there is none; an
// existing stream's replicas are raised when the cluster allows more.
func Open(ctx context.Context, nc *nats.Conn, collective string) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	name := StreamName(collective)
	st, err := rpc.EnsureStream(ctx, nc, jetstream.StreamConfig{
		Name:        name,
		Description: "orch run history: run records and events",
		Subjects:    []string{collective + ".runs.>"},
		MaxAge:      DefaultMaxAge,
		Metadata:    map[string]string{metaMaxRuns: strconv.Itoa(DefaultMaxRuns)},
	})
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	return &Store{js: js, stream: st, collective: collective}, nil
}

// Retention returns the history's retention.
func (s *Store) Retention(ctx context.Context) (Retention, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return Retention{}, fmt.Errorf("run history: %w", err)
	}
	return retentionOf(info.Config), nil
}

func retentionOf(c jetstream.StreamConfig) Retention {
	r := Retention{MaxAge: c.MaxAge, MaxRuns: DefaultMaxRuns}
	if n, err := strconv.Atoi(c.Metadata[metaMaxRuns]); err == nil {
		r.MaxRuns = n
	}
	return r
}

// SetRetention changes the history's retention; zero fields keep their
// value. Runs beyond the new limits go now (by count) or as they age.
func (s *Store) SetRetention(ctx context.Context, r Retention) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	cfg := info.Config
	if r.MaxAge > 0 {
		cfg.MaxAge = r.MaxAge
	}
	if r.MaxRuns > 0 {
		if cfg.Metadata == nil {
			cfg.Metadata = map[string]string{}
		}
		cfg.Metadata[metaMaxRuns] = strconv.Itoa(r.MaxRuns)
	}
	if s.stream, err = s.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("run history: updating retention: %w", err)
	}
	return s.prune(ctx, 0)
}

func (s *Store) recordSubject(id string) string { return s.collective + ".runs." + id + ".record" }
func (s *Store) eventsSubject(id string) string { return s.collective + ".runs." + id + ".events" }

// ids returns the IDs of the runs kept, oldest first.
func (s *Store) ids(ctx context.Context) ([]string, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.recordSubject("*")))
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	prefix := s.collective + ".runs."
	ids := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(subj, prefix), ".record"))
	}
	slices.Sort(ids)
	return ids, nil
}

// prune purges the oldest runs so that, with room more to come, at most
// MaxRuns are kept.
func (s *Store) prune(ctx context.Context, room int) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	limit := retentionOf(info.Config).MaxRuns - room
	ids, err := s.ids(ctx)
	if err != nil || len(ids) <= limit {
		return err
	}
	for _, id := range ids[:len(ids)-max(limit, 0)] {
		if err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(s.collective+".runs."+id+".*")); err != nil {
			return fmt.Errorf("run history: dropping run %s: %w", id, err)
		}
	}
	return nil
}

// ErrNotFound is wrapped by the error of Get for a run not in the history.
var ErrNotFound = errors.New("no such run")

// Get returns the record of run id.
func (s *Store) Get(ctx context.Context, id string) (*Record, error) {
	if strings.ContainsAny(id, ".*> \t") || id == "" {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	m, err := s.stream.GetLastMsgForSubject(ctx, s.recordSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	var r Record
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, fmt.Errorf("run history: run %s: %w", id, err)
	}
	return &r, nil
}
