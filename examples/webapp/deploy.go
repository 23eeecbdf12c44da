//go:build ignore

// deploy.go is the webapp upgrade of deploy-classic.hcl (the whole cluster
// out of the load balancer at once) written with orch's Go SDK,
// for when the replies must decide what happens next: it reports each
// node's previous and new revision and, if the load check still fails on
// some nodes after the deadline, leaves just those in maintenance, puts the
// healthy ones back, and says so in the notification.
//
//	. $DEMO_DIR/env     # from orch demo up: ORCH_SERVER, ORCH_KEY
//	go run examples/webapp/deploy.go -cluster alfa -revision v2
//
// Exit status: 0 all nodes upgraded and in service, 1 otherwise.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/orch-fleet/orch"
)

func main() {
	cluster := flag.String("cluster", "", "the cluster to upgrade (alfa or bravo)")
	revision := flag.String("revision", "main", "git branch, tag or commit to deploy")
	loadTimeout := flag.Duration("load-timeout", 100*time.Second, "how long the load check may take to pass")
	interval := flag.Duration("interval", 5*time.Second, "pause between load checks")
	flag.Parse()
	if *cluster != "alfa" && *cluster != "bravo" {
		fmt.Fprintln(os.Stderr, "deploy: -cluster must be alfa or bravo")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := upgrade(ctx, *cluster, *revision, *loadTimeout, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
}

func upgrade(ctx context.Context, cluster, revision string, loadTimeout, interval time.Duration) error {
	// The same settings as the orch CLI: client config file, then
	// ORCH_SERVER, ORCH_KEY, ORCH_BROKER_NKEY, ORCH_TLS_CA, ...
	opts, err := orch.ClientOptions(os.Getenv)
	if err != nil {
		return err
	}
	opts.Name = "webapp-deploy.go"
	fleet, err := orch.Connect(ctx, opts)
	if err != nil {
		return err
	}
	defer fleet.Close()

	// 1-2. Discover the load balancers, the cluster's web nodes, the notifiers.
	lbs, err := fleet.Discover(ctx, orch.Filter{Agents: []string{"haproxy"}})
	if err != nil {
		return err
	}
	web, err := fleet.Discover(ctx, orch.Filter{Facts: orch.Facts("cluster=" + cluster), Agents: []string{"appmgr"}})
	if err != nil {
		return err
	}
	if len(lbs) == 0 || len(web) == 0 {
		return fmt.Errorf("found %d load balancer(s) and %d %s web node(s)", len(lbs), len(web), cluster)
	}
	fmt.Printf("load balancers: %v\n%s web nodes: %v\n", lbs, cluster, web)

	// 3. Every node answers.
	ping, err := fleet.Call(ctx, orch.Call{Agent: "rpcutil", Action: "ping", Nodes: append(append([]string{}, lbs...), web...), Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	if !ping.OK() {
		return fmt.Errorf("not answering: %v; nothing was changed", ping.Failed())
	}

	// The revision each node runs now.
	before := map[string]string{}
	status, err := fleet.Call(ctx, orch.Call{Agent: "appmgr", Action: "status", Nodes: web, Input: map[string]any{"app": "webapp"}})
	if err != nil {
		return err
	}
	for _, id := range status.Succeeded() {
		var st struct{ Revision, Commit string }
		_ = status.Decode(id, &st)
		before[id] = st.Revision
	}

	// 4. Maintenance.
	if err := haproxy(ctx, fleet, "disable", lbs, web); err != nil {
		return err
	}

	// 5. Deploy, two at a time. A node whose deploy fails stays out.
	dep, err := fleet.Call(ctx, orch.Call{Agent: "appmgr", Action: "deploy", Nodes: web, BatchSize: 2, Timeout: 5 * time.Minute,
		Input: map[string]any{"app": "webapp", "revision": revision}})
	if err != nil {
		return err
	}
	after := map[string]string{}
	for _, id := range dep.Succeeded() {
		var d struct{ Revision, Commit string }
		_ = dep.Decode(id, &d)
		after[id] = d.Revision + " (" + d.Commit[:7] + ")"
	}

	// 6. The load check on the deployed nodes, retried until the deadline.
	load, err := fleet.Call(ctx, orch.Call{Agent: "nrpe", Action: "run", Nodes: dep.Succeeded(), Input: map[string]any{"command": "check_load"},
		Check: orch.NagiosOK, Retry: orch.Retry{Timeout: loadTimeout, Interval: interval}})
	if err != nil {
		return err
	}
	healthy := load.Succeeded()
	sick := append(dep.Failed(), load.Failed()...)
	sort.Strings(sick)

	// 7. Only the healthy nodes go back into service.
	if len(healthy) > 0 {
		if err := haproxy(ctx, fleet, "enable", lbs, healthy); err != nil {
			return err
		}
	}

	fmt.Printf("\n%-8s %-20s %-20s %s\n", "node", "before", "after", "state")
	for _, id := range web {
		state := "in service"
		why := ""
		if nr := dep.Nodes[id]; !nr.OK {
			state, why = "MAINTENANCE", "deploy failed: "+nr.Err
		} else if nr := load.Nodes[id]; nr != nil && !nr.OK {
			state, why = "MAINTENANCE", "load: "+nr.Err
		}
		fmt.Printf("%-8s %-20s %-20s %s\n", id, orDash(before[id]), orDash(after[id]), strings.TrimSpace(state+" "+why))
	}

	// 8. Tell the administrator, through exactly one notifier.
	subject := fmt.Sprintf("webapp %s deployed to %s", revision, cluster)
	message := fmt.Sprintf("In service on %s: %s.", revision, strings.Join(healthy, ", "))
	if len(sick) > 0 {
		subject = fmt.Sprintf("webapp %s on %s: %d node(s) left in maintenance", revision, cluster, len(sick))
		message += fmt.Sprintf(" Left in maintenance (deploy or load check failed after %s): %s.", loadTimeout, strings.Join(sick, ", "))
	}
	note, err := fleet.Call(ctx, orch.Call{Agent: "angelia", Action: "notify", AnyOne: true, Timeout: 10 * time.Second,
		Input: map[string]any{"recipient": "ops", "subject": subject, "message": message, "priority": priority(len(sick))}})
	if err != nil {
		return err
	}
	if !note.OK() {
		fmt.Fprintln(os.Stderr, "deploy: the notification failed:", note.Failed())
	}
	fmt.Printf("\nnotified: %s\n", subject)
	if len(sick) > 0 {
		return fmt.Errorf("%d node(s) left in maintenance: %s", len(sick), strings.Join(sick, ", "))
	}
	return nil
}

// haproxy disables or enables servers on every load balancer.
func haproxy(ctx context.Context, fleet *orch.Fleet, action string, lbs, servers []string) error {
	list := make([]any, len(servers))
	for i, s := range servers {
		list[i] = s
	}
	res, err := fleet.Call(ctx, orch.Call{Agent: "haproxy", Action: action, Nodes: lbs, Input: map[string]any{"backend": "web", "servers": list}})
	if err != nil {
		return err
	}
	if !res.OK() {
		for _, id := range res.Failed() {
			return fmt.Errorf("haproxy %s on %s: %s", action, id, res.Nodes[id].Err)
		}
	}
	return nil
}

func priority(sick int) string {
	if sick > 0 {
		return "high"
	}
	return "normal"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
