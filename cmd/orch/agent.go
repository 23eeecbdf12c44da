package main

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/orch-fleet/orch/node"
)

// runAgent is `orch agent --config node.hcl`: the node daemon.
func runAgent(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("agent", e.stderr)
	config := fs.String("config", "/etc/orch/node.hcl", "node config `file` (HCL)")
	check := fs.Bool("check", false, "check the config and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if _, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(e.stderr, "orch agent: --log-level %q: want debug, info, warn or error\n", *logLevel)
		return exitInvalid
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
	cfg, diags := node.LoadConfig(*config)
	if diags.HasErrors() {
		e.view().Diagnostics(diags, nil)
		return exitInvalid
	}
	n, diags := node.New(cfg, node.Options{Version: version, Logger: log})
	if diags.HasErrors() {
		e.view().Diagnostics(diags, nil)
		return exitInvalid
	}
	if *check {
		fmt.Fprintf(e.stdout, "%s: config ok (identity %s)\n", *config, cfg.Identity)
		return exitOK
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
	if err := n.Run(ctx, reload); err != nil {
		fmt.Fprintf(e.stderr, "orch agent: %v\n", err)
		return exitFailed
	}
	return exitOK
}
