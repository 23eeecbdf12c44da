package main

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/orch-fleet/orch/internal/metrics"
	"github.com/orch-fleet/orch/node"
)

// runAgent is `orch agent --config node.hcl`: the node daemon.
func runAgent(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("agent", e.stderr)
	config := fs.String("config", "/etc/orch/node.hcl", "node config `file` (HCL)")
	check := fs.Bool("check", false, "check the config and exit")
	logs := addLogFlags(fs)
	if _, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	}
	log, err := logs.logger(e.stderr, slog.LevelDebug)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch agent: %v\n", err)
		return exitInvalid
	}
	cfg, diags := node.LoadConfig(*config)
	if diags.HasErrors() {
		e.view().Diagnostics(diags, nil)
		return exitInvalid
	}
	opts := node.Options{Version: version, Logger: log}
	var m *metrics.Agent
	if cfg.MetricsListen != "" {
		if err := metrics.CheckListen(cfg.MetricsListen, cfg.MetricsAllowRemote); err != nil {
			fmt.Fprintf(e.stderr, "orch agent: %s: metrics_listen: %v\n", *config, err)
			return exitInvalid
		}
		m = metrics.NewAgent(version)
		opts.Metrics = m
	}
	n, diags := node.New(cfg, opts)
	if diags.HasErrors() {
		e.view().Diagnostics(diags, nil)
		return exitInvalid
	}
	if *check {
		fmt.Fprintf(e.stdout, "%s: config ok (identity %s)\n", *config, cfg.Identity)
		return exitOK
	}
	if m != nil {
		ep, err := metrics.Listen(cfg.MetricsListen, cfg.MetricsAllowRemote, m.Registry(), log)
		if err != nil {
			log.Error("starting the metrics endpoint", "err", err)
			return exitFailed
		}
		defer func() { _ = ep.Close(context.Background()) }()
		log.Info("serving metrics", "url", ep.URL())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := n.Run(ctx, agentSignals(ctx, cancel, e, log)); err != nil {
		log.Error("agent stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

// agentSignals relays the process's signals until ctx is done: SIGHUP
// becomes a value on the returned reload channel, any other signal
// cancels.
func agentSignals(ctx context.Context, cancel context.CancelFunc, e *env, log *slog.Logger) <-chan struct{} {
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case s := <-e.signals:
				if s == syscall.SIGHUP {
					select {
					case reload <- struct{}{}:
					default:
					}
					continue
				}
				log.Info("stopping: finishing in-flight requests", "signal", s.String())
				cancel()
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return reload
}
