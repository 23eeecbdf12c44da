package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/internal/metrics"
)

// runBroker is `orch broker`: an embedded NATS server with JetStream;
// `orch broker gen-auth` writes its authorization configuration.
func runBroker(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && args[0] == "gen-auth" {
		return runGenAuth(ctx, e, args[1:])
	}
	fs := newFlagSet("broker", e.stderr)
	listen := fs.String("listen", "127.0.0.1:4222", "client `address` (host:port); only loopback unless you say otherwise")
	store := fs.String("store-dir", "", "JetStream store `dir` (default: a new temp dir)")
	config := fs.String("config", "", "nats-server config `file` for authorization (users, nkeys, permissions)")
	name := fs.String("name", "", "server name, unique in a cluster")
	clusterName := fs.String("cluster-name", "orch", "cluster name")
	clusterListen := fs.String("cluster-listen", "", "route `address` (host:port) to form a cluster with other brokers")
	routes := fs.String("routes", "", "comma-separated route `URLs` of the other brokers (nats-route://host:port)")
	quiet := fs.Bool("quiet", false, "log only warnings and errors (the server's notices are info)")
	insecure := fs.Bool("insecure", false, "allow listening beyond loopback without authentication (a lab only: anyone on the network can read and forge everything)")
	metricsListen := fs.String("metrics-listen", "", "serve Prometheus metrics on `address` (host:port, e.g. 127.0.0.1:9465); loopback only unless --metrics-allow-remote")
	metricsRemote := fs.Bool("metrics-allow-remote", false, "allow a --metrics-listen address beyond loopback (the endpoint has no authentication)")
	logs := addLogFlags(fs)
	if _, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	}
	floor := slog.LevelDebug
	if *quiet {
		floor = slog.LevelWarn
	}
	log, err := logs.logger(e.stderr, floor)
	if err == nil && *metricsListen != "" {
		err = metrics.CheckListen(*metricsListen, *metricsRemote)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "orch broker: %v\n", err)
		return exitInvalid
	}
	cfg := broker.Config{Name: *name, Listen: *listen, StoreDir: *store, ConfigFile: *config,
		ClusterName: *clusterName, ClusterListen: *clusterListen, Insecure: *insecure, Logger: log}
	if *routes != "" {
		cfg.Routes = strings.Split(*routes, ",")
	}
	b, err := broker.Start(cfg)
	if err != nil {
		log.Error("broker did not start", "err", err)
		return exitFailed
	}
	defer b.Shutdown()
	fmt.Fprintf(e.stdout, "orch broker listening on %s\n", b.ClientURL())
	if u := b.ClusterURL(); u != "" {
		fmt.Fprintf(e.stdout, "cluster routes on %s\n", u)
	}
	if *metricsListen != "" {
		ep, err := metrics.Listen(*metricsListen, *metricsRemote, metrics.NewBroker(b.Server()), log)
		if err != nil {
			log.Error("starting the metrics endpoint", "err", err)
			return exitFailed
		}
		defer func() { _ = ep.Close(context.Background()) }()
		log.Info("serving metrics", "url", ep.URL())
	}
	select {
	case <-e.signals:
	case <-ctx.Done():
	}
	return exitOK
}
