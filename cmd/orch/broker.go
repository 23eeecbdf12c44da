package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/orch-fleet/orch/broker"
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
	quiet := fs.Bool("quiet", false, "do not log the server's notices")
	insecure := fs.Bool("insecure", false, "allow listening beyond loopback without authentication (a lab only: anyone on the network can read and forge everything)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	}
	cfg := broker.Config{Name: *name, Listen: *listen, StoreDir: *store, ConfigFile: *config,
		ClusterName: *clusterName, ClusterListen: *clusterListen, Insecure: *insecure}
	if *routes != "" {
		cfg.Routes = strings.Split(*routes, ",")
	}
	cfg.Logf = func(f string, a ...any) {
		if msg := fmt.Sprintf(f, a...); !*quiet || strings.Contains(msg, "INSECURE") {
			fmt.Fprintln(e.stderr, msg)
		}
	}
	b, err := broker.Start(cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch broker: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(e.stdout, "orch broker listening on %s\n", b.ClientURL())
	if u := b.ClusterURL(); u != "" {
		fmt.Fprintf(e.stdout, "cluster routes on %s\n", u)
	}
	select {
	case <-e.signals:
	case <-ctx.Done():
	}
	b.Shutdown()
	return exitOK
}
