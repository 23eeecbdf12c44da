package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/internal/emulator"
	"github.com/orch-fleet/orch/rpc"
)

// emulateFlags are the flags of orch emulate.
type emulateFlags struct {
	server, collective, prefix string
	facts, classes, trust      stringList
	count, conns               int
	o                          emulator.Options
}

// runEmulate is `orch emulate --count N`: a fleet of virtual nodes in this
// process until interrupted (docs/emulator.md). It is a command of its own,
// not a mode of orch agent: an agent is one identity with a config file, a
// data dir and providers that change the host, none of which an emulated
// fleet has.
func runEmulate(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("emulate", e.stderr)
	var f emulateFlags
	fs.StringVar(&f.server, "server", envOr(e, "ORCH_SERVER", nats.DefaultURL), "broker `URLs`, comma-separated (env ORCH_SERVER)")
	fs.StringVar(&f.collective, "collective", envOr(e, "ORCH_COLLECTIVE", rpc.DefaultCollective), "collective (env ORCH_COLLECTIVE)")
	fs.IntVar(&f.count, "count", 1000, "how many nodes to emulate")
	fs.StringVar(&f.prefix, "prefix", "emu", "identity prefix: PREFIX0000, PREFIX0001, ...")
	fs.Var(&f.facts, "facts", "fact template `NAME=V1,V2,...`: node i gets V[i mod count] (repeatable)")
	fs.Var(&f.classes, "class", "a class every node has (repeatable)")
	fs.Var(&f.trust, "trust", "client public `KEY` the nodes accept (repeatable; none: any signed request)")
	fs.IntVar(&f.conns, "conns", 4, "NATS connections the nodes share")
	fs.DurationVar(&f.o.Work.Delay, "delay", 0, "how long an emulated action takes")
	fs.DurationVar(&f.o.Work.Jitter, "jitter", 0, "plus a random 0-jitter")
	fs.Float64Var(&f.o.Work.FailureRate, "failure-rate", 0, "share of emulated actions that fail, 0-1")
	fs.DurationVar(&f.o.Latency, "latency", 0, "delay before a node handles a request (emulated network)")
	fs.DurationVar(&f.o.LatencyJitter, "latency-jitter", 0, "plus a random 0-latency-jitter")
	fs.DurationVar(&f.o.RegistryTTL, "registry-ttl", rpc.DefaultRegistryTTL, "registry entries' lifetime; nodes heartbeat at a third of it (negative: no registry)")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	} else if len(pos) > 0 {
		return usageErr(e, "emulate", "unexpected argument %q", pos[0])
	}
	if err := f.complete(); err != nil {
		return usageErr(e, "emulate", "%v", err)
	}
	return emulate(ctx, e, &f)
}

// complete checks the flags and fills the emulator's options.
func (f *emulateFlags) complete() error {
	if f.count <= 0 || f.conns <= 0 {
		return fmt.Errorf("--count and --conns must be positive")
	}
	if r := f.o.Work.FailureRate; r < 0 || r > 1 {
		return fmt.Errorf("--failure-rate must be between 0 and 1, not %g", r)
	}
	for _, s := range f.facts {
		ft, err := emulator.ParseFact(s)
		if err != nil {
			return err
		}
		f.o.Facts = append(f.o.Facts, ft)
	}
	f.o.Count, f.o.Prefix, f.o.Collective, f.o.Classes, f.o.Trust, f.o.Version = f.count, f.prefix, f.collective, f.classes, f.trust, version
	return nil
}

// emulate connects, starts the fleet and runs it until a signal.
func emulate(ctx context.Context, e *env, f *emulateFlags) int {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f.o.Logger = log
	conns := make([]*nats.Conn, f.conns)
	for i := range conns {
		nc, err := rpc.Connect(ctx, strings.Split(f.server, ","), fmt.Sprintf("orch-emulate %d", i))
		if err != nil {
			fmt.Fprintf(e.stderr, "orch emulate: %v\n", err)
			return exitFailed
		}
		defer nc.Close()
		conns[i] = nc
	}
	start := time.Now()
	fl, err := emulator.Start(ctx, conns, f.o)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch emulate: %v\n", err)
		return exitFailed
	}
	ids := fl.Identities()
	fmt.Fprintf(e.stdout, "emulating %d nodes (%s … %s) on %s, ready in %s; interrupt to stop\n",
		len(ids), ids[0], ids[len(ids)-1], conns[0].ConnectedUrlRedacted(), time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := fl.Run(ctx); err != nil {
		fmt.Fprintf(e.stderr, "orch emulate: %v\n", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := fl.Stop(sctx); err != nil {
		fmt.Fprintf(e.stderr, "orch emulate: stopping: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// envOr is the environment variable name, or fallback when unset.
func envOr(e *env, name, fallback string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return fallback
}
