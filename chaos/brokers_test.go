//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	listeningRE = regexp.MustCompile(`orch broker listening on (nats://\S+)`)
	routesRE    = regexp.MustCompile(`cluster routes on (nats-route://\S+)`)
)

// startBrokers starts three brokers forming one cluster. Each picks free
// ports and routes to those started before it (the first, which has none
// yet, to an unused privileged port: JetStream in a cluster insists on a
// route); then each broker's command line is fixed to its ports and the
// routes of the two others, so that a restart comes back where the agents
// and clients look for it.
func (f *chaosFleet) startBrokers() error {
	for i := 0; i < 3; i++ {
		routes := []string{"nats-route://127.0.0.1:1"}
		if i > 0 {
			routes = nil
		}
		for _, b := range f.brokers {
			routes = append(routes, b.route)
		}
		b := &brokerProc{proc: &proc{name: f.brokerName(i), log: f.logPath(f.brokerName(i))}}
		b.args = f.brokerArgs(i, "127.0.0.1:0", "127.0.0.1:0", routes)
		if err := b.start(); err != nil {
			return err
		}
		f.brokers = append(f.brokers, b)
		if err := b.waitAddrs(); err != nil {
			return err
		}
	}
	for i, b := range f.brokers {
		var routes []string
		for j, o := range f.brokers {
			if j != i {
				routes = append(routes, o.route)
			}
		}
		b.args = f.brokerArgs(i, strings.TrimPrefix(b.url, "nats://"), strings.TrimPrefix(b.route, "nats-route://"), routes)
	}
	return f.waitJetStream(30 * time.Second)
}

func (f *chaosFleet) brokerArgs(i int, listen, cluster string, routes []string) []string {
	args := []string{f.bin, "broker", "--name", f.brokerName(i), "--listen", listen, "--cluster-listen", cluster,
		"--store-dir", f.brokerStore(i), "--config", f.authConf, "--quiet"}
	if len(routes) > 0 {
		args = append(args, "--routes", strings.Join(routes, ","))
	}
	return args
}

// waitAddrs waits up to 10 s for the broker's log to name its client and
// route URLs.
func (b *brokerProc) waitAddrs() error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		log, _ := os.ReadFile(b.log)
		u, r := listeningRE.FindSubmatch(log), routesRE.FindSubmatch(log)
		if u != nil && r != nil {
			b.url, b.route = string(u[1]), string(r[1])
			return nil
		}
		if !b.running() {
			return fmt.Errorf("broker %s exited: %s", b.name, log)
		}
	}
	return fmt.Errorf("broker %s did not say where it listens within 10s", b.name)
}

// waitJetStream waits until the cluster can place a three-replica
// stream: every broker is in JetStream's meta group.
func (f *chaosFleet) waitJetStream(d time.Duration) error {
	if f.js == nil {
		if err := f.connect(); err != nil {
			return err
		}
	}
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = f.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "chaos_probe", Subjects: []string{"chaos.probe"},
			Storage: jetstream.MemoryStorage, Replicas: 3})
		if err == nil {
			err = f.js.DeleteStream(ctx, "chaos_probe")
		}
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("the cluster did not place a 3-replica stream within %s: %v", d, err)
}

// restartBroker starts broker i again on its ports and store, and waits
// until it accepts connections.
func (f *chaosFleet) restartBroker(i int) error {
	b := f.brokers[i]
	if err := b.start(); err != nil {
		return err
	}
	addr := strings.TrimPrefix(b.url, "nats://")
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("broker %s did not come back on %s within 15s", b.name, addr)
}

// stateStreams are the streams of orch's state that must survive a
// broker's loss (docs/reliability.md): its key-value buckets and the run
// history.
var stateStreams = []string{"KV_orch_registry", "KV_orch_lastseen", "KV_orch_locks", "KV_orch_angelia", "orch_runs"}

// bucketHealth says, for each state bucket, why it is not a file bucket
// with three current replicas; "" when all are.
func (f *chaosFleet) bucketHealth(ctx context.Context) string {
	var bad []string
	for _, name := range stateStreams {
		s, err := f.js.Stream(ctx, name)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		info := s.CachedInfo()
		if info.Config.Storage != jetstream.FileStorage || info.Config.Replicas != 3 {
			bad = append(bad, fmt.Sprintf("%s: %s storage, %d replica(s)", name, info.Config.Storage, info.Config.Replicas))
			continue
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			bad = append(bad, name+": no leader")
			continue
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				bad = append(bad, fmt.Sprintf("%s: replica on %s not current", name, r.Name))
			}
		}
	}
	return strings.Join(bad, "; ")
}

// waitBuckets waits up to d until every state bucket has three current
// replicas.
func (f *chaosFleet) waitBuckets(d time.Duration) error {
	why := ""
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		why = f.bucketHealth(ctx)
		cancel()
		if why == "" {
			return nil
		}
	}
	return fmt.Errorf("state buckets not healthy after %s: %s", d, why)
}

// discover runs `orch discover` and returns the identities it listed.
func (f *chaosFleet) discover() ([]string, string, error) {
	out, errOut, code := f.orch("discover")
	if code != 0 {
		return nil, errOut, fmt.Errorf("orch discover: exit %d: %s", code, errOut)
	}
	ids := strings.Fields(out)
	slices.Sort(ids)
	return ids, errOut, nil
}

// waitRegistered waits up to d until discovery lists every one of ids.
func (f *chaosFleet) waitRegistered(d time.Duration, ids ...string) error {
	var got []string
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got, _, _ = f.discover()
		missing := 0
		for _, id := range ids {
			if !slices.Contains(got, id) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
	}
	return fmt.Errorf("nodes %v not all registered after %s (discovered %v); logs in %s", ids, d, got, f.dir)
}
