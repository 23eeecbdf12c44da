// Package history records the runs of orch apply and orch plan on the bus
// and reads them back: a run record (who ran which playbook with which
// variables, when, and how it ended) and the run's events, the same as
// orch apply -json prints, in one JetStream stream per collective with
// file storage.
//
// A run is recorded by feeding the engine's events to a Run, composed with
// the view's callback, so that the engine itself knows nothing of NATS:
//
//	run := history.NewRun(rec, history.RunOptions{Warn: warnOnce})
//	if st, err := history.Open(ctx, nc, collective); err != nil {
//		run.Fail(err) // the run goes on without history
//	} else {
//		run.Attach(ctx, st)
//	}
//	rep, err := engine.Run(ctx, cat, reg, fleet, engine.Options{Events: history.Tee(view.Event, run.Event)})
//	run.Finish(rep, err)
//
// Readers list runs, load a run's record and events, or follow a run live:
//
//	runs, err := st.List(ctx, history.Filter{Playbook: "deploy.hcl"})
//	err = st.Follow(ctx, id, func(ev engine.Event) { ... })
//
// Storage (docs/runs.md): the stream COLLECTIVE_runs holds the subjects
// COLLECTIVE.runs.ID.record (the record, written when the run starts and
// again when it ends; the last one counts) and COLLECTIVE.runs.ID.events (one
// message per event). Run IDs sort by start time. Retention: MaxAge on the
// stream, and at most MaxRuns runs, the oldest purged when a run starts.
package history
