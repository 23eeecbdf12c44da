package history_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/natstest"
)

// startBroker starts a broker storing JetStream in dir.
func startBroker(t *testing.T, dir string) (*broker.Broker, *nats.Conn) {
	t.Helper()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:-1", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		b.Shutdown()
		t.Fatal(err)
	}
	return b, nc
}

// record runs a fake run of n resources through a Run into st.
func record(t *testing.T, st *history.Store, playbook string, outcome engine.Outcome) string {
	t.Helper()
	ctx := context.Background()
	run := history.NewRun(history.Record{Command: "apply", Playbook: playbook, Caller: history.Caller{Name: "tester"}},
		history.RunOptions{Warn: func(err error) { t.Errorf("warned: %v", err) }})
	run.Attach(ctx, st)
	run.Event(engine.Event{Type: engine.EventRunStart, Time: time.Now(), Resources: 1})
	run.Event(engine.Event{Type: engine.EventResourceEnd, Time: time.Now(), Resource: "rpcutil_ping.web", Outcome: outcome})
	run.Event(engine.Event{Type: engine.EventRunEnd, Time: time.Now(), Outcome: outcome})
	run.Finish(&engine.Report{Outcome: outcome, Changed: 2}, nil)
	return run.ID()
}

func TestHistorySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, nc := startBroker(t, dir)
	st, err := history.Open(ctx, nc, "orch")
	if err != nil {
		t.Fatal(err)
	}
	id := record(t, st, "deploy.hcl", engine.OutcomeOK)
	nc.Close()
	b.Shutdown()

	b, nc = startBroker(t, dir)
	t.Cleanup(func() { nc.Close(); b.Shutdown() })
	st, err = history.Open(ctx, nc, "orch")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != engine.OutcomeOK || rec.Changed != 2 || rec.Caller.Name != "tester" || rec.Ended.IsZero() {
		t.Errorf("record after restart: %+v", rec)
	}
	evs, err := st.Events(ctx, id)
	if err != nil || len(evs) != 3 || evs[2].Type != engine.EventRunEnd {
		t.Errorf("events after restart: %v %+v", err, evs)
	}
	if _, err := st.Get(ctx, "nope"); !errors.Is(err, history.ErrNotFound) {
		t.Errorf("Get(nope) = %v, want ErrNotFound", err)
	}
}

func TestHistoryListAndRetention(t *testing.T) {
	ctx := context.Background()
	nc, err := nats.Connect(natstest.URL(natstest.Start(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, err := history.Open(ctx, nc, "orch")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetRetention(ctx, history.Retention{MaxRuns: 3}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, o := range []engine.Outcome{engine.OutcomeOK, engine.OutcomeFailed, engine.OutcomeOK, engine.OutcomeFailed, engine.OutcomeOK} {
		ids = append(ids, record(t, st, fmt.Sprintf("pb%d/deploy.hcl", i%2), o))
	}
	tests := map[string]struct {
		f    history.Filter
		want []string
	}{
		"all, newest first, oldest dropped": {history.Filter{}, []string{ids[4], ids[3], ids[2]}},
		"by outcome":                        {history.Filter{Outcome: engine.OutcomeFailed}, []string{ids[3]}},
		"by playbook path":                  {history.Filter{Playbook: "pb0/deploy.hcl"}, []string{ids[4], ids[2]}},
		"by base name":                      {history.Filter{Playbook: "deploy.hcl", Limit: 1}, []string{ids[4]}},
		"since the future":                  {history.Filter{Since: time.Now().Add(time.Hour)}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := st.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, r := range got {
				gotIDs = append(gotIDs, r.ID)
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", gotIDs, tc.want)
			}
		})
	}
	if evs, err := st.Events(ctx, ids[0]); !errors.Is(err, history.ErrNotFound) || len(evs) != 0 {
		t.Errorf("dropped run still has events: %v %v", err, evs)
	}
	if r, err := st.Retention(ctx); err != nil || r.MaxRuns != 3 || r.MaxAge != history.DefaultMaxAge {
		t.Errorf("retention %+v %v", r, err)
	}
}

func TestFollowAndUnrecordable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(natstest.URL(natstest.Start(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, err := history.Open(ctx, nc, "orch")
	if err != nil {
		t.Fatal(err)
	}
	run := history.NewRun(history.Record{Command: "apply", Playbook: "x.hcl"}, history.RunOptions{})
	run.Attach(ctx, st)
	run.Event(engine.Event{Type: engine.EventRunStart, Resources: 1})
	got := make(chan engine.Event, 10)
	done := make(chan error, 1)
	go func() { done <- st.Follow(ctx, run.ID(), func(ev engine.Event) { got <- ev }) }()
	if ev := <-got; ev.Type != engine.EventRunStart {
		t.Fatalf("first followed event %+v", ev)
	}
	run.Event(engine.Event{Type: engine.EventRunEnd, Outcome: engine.OutcomeOK})
	run.Finish(&engine.Report{Outcome: engine.OutcomeOK}, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ev := <-got; ev.Type != engine.EventRunEnd {
		t.Errorf("last followed event %+v", ev)
	}

	// A run whose history fails warns once and keeps its events in memory.
	warns := 0
	lost := history.NewRun(history.Record{}, history.RunOptions{Keep: true, Warn: func(error) { warns++ }})
	lost.Fail(errors.New("no jetstream"))
	lost.Event(engine.Event{Type: engine.EventRunStart})
	lost.Fail(errors.New("again"))
	lost.Finish(nil, errors.New("lock held"))
	if warns != 1 || len(lost.Events()) != 1 || lost.Record().Error != "lock held" {
		t.Errorf("warns %d, events %d, record %+v", warns, len(lost.Events()), lost.Record())
	}
}
