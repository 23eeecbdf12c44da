// Package views renders what the orch commands show: one small interface
// per command with a human and a JSON implementation, chosen by a ViewType,
// in the spirit of terraform's internal/command/views. cmd/orch parses flags
// and wires packages together; everything it prints goes through a view.
//
// The view of apply and plan receives the engine's events as they happen
// (its Event method is the engine's event callback) and the run's report at
// the end:
//
//	v := views.NewView(os.Stdout, os.Stderr)
//	rv := views.NewRun(views.Human, v, views.RunOptions{Playbook: path, Live: views.IsTerminal(os.Stdout)})
//	rep, err := engine.Run(ctx, cat, reg, fleet, engine.Options{Events: rv.Event})
//	rv.Close()
//	rv.Result(cat, rep)
//
// Files are named after the command whose view they hold (run_*.go for
// apply and plan, call.go for ping and rpc, …); view.go holds what every
// view shares (the streams, diagnostics, JSON).
package views
