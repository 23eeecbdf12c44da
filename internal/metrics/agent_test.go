package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/metrics"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/node"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/rpc"
)

// flaky is a provider whose actions fail: "fail" with aborted, "crash"
// with a panic.
type flaky struct{}

func flakySchema() *ddl.Agent {
	return &ddl.Agent{Name: "flaky", Version: "1", Actions: []*ddl.Action{{Name: "fail"}, {Name: "crash"}}}
}

func (flaky) Schema() *ddl.Agent { return flakySchema() }

func (flaky) Handle(_ context.Context, c *rpc.Call) (*rpc.Result, error) {
	if c.Action == "crash" {
		panic("flaky provider")
	}
	return nil, fleet.Errorf(fleet.StatusAborted, "failed on purpose")
}

// startAgent runs an in-process node with metrics on a real broker and
// serves them on a loopback port; it returns the broker URL, the trusted
// client key and the metrics URL.
func startAgent(t *testing.T) (url string, kp nkeys.KeyPair, metricsURL string) {
	t.Helper()
	s := natstest.Start(t)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	dir := t.TempDir()
	path := filepath.Join(dir, "node.hcl")
	cfg := fmt.Sprintf("identity = \"web1\"\nservers = [%q]\ndata_dir = %q\nclient \"ops\" { key = %q }\nprovider \"flaky\" {}\n",
		natstest.URL(s), dir, pub)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, diags := node.LoadConfig(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	spec := providers.Spec{Name: "flaky", Schema: flakySchema,
		New: func(hcl.Body, providers.Env) (rpc.Handler, hcl.Diagnostics) { return flaky{}, nil }}
	m := metrics.NewAgent("1.2.3")
	n, diags := node.New(c, node.Options{Version: "1.2.3", Metrics: m, Specs: append(builtin.Specs(), spec)})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ep, err := metrics.Listen("127.0.0.1:0", false, m.Registry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return natstest.URL(s), kp, ep.URL()
}

func newClient(t *testing.T, url string, kp nkeys.KeyPair) *rpc.Client {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return rpc.NewClient(nc, kp, rpc.ClientOptions{Name: "ops"})
}

// TestAgentMetrics makes real requests of an in-process node and scrapes
// its endpoint over loopback.
func TestAgentMetrics(t *testing.T) {
	url, kp, murl := startAgent(t)
	ops := newClient(t, url, kp)
	stranger, _ := nkeys.CreateUser()
	intruder := newClient(t, url, stranger)
	eventually(t, 10*time.Second, "the node never registered", func() bool {
		return value(scrape(t, murl), "orch_agent_registry_heartbeats_total", "result=ok") >= 1
	})
	calls := []struct {
		c             *rpc.Client
		agent, action string
		want          fleet.Status
	}{
		{ops, "rpcutil", "ping", fleet.StatusOK},
		{ops, "rpcutil", "ping", fleet.StatusOK},
		{ops, "rpcutil", "no_such_action", fleet.StatusUnknownAction},
		{ops, "ghost", "boo", fleet.StatusUnknownAgent},
		{intruder, "rpcutil", "ping", fleet.StatusUnauthorised},
		{ops, "flaky", "fail", fleet.StatusAborted},
		{ops, "flaky", "crash", fleet.StatusInternalError},
	}
	for _, tt := range calls {
		res, err := tt.c.Call(context.Background(), fleet.CallRequest{Agent: tt.agent, Action: tt.action, Targets: []string{"web1"}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replies) != 1 || res.Replies[0].Status != tt.want {
			t.Fatalf("%s.%s: replies %+v, want status %s", tt.agent, tt.action, res.Replies, tt.want)
		}
	}
	fams := scrape(t, murl)
	want := map[string]struct {
		metric, labels string
		value          float64
	}{
		"pings":                {"orch_agent_requests_total", "agent=rpcutil,action=ping,status=ok", 2},
		"ping latency":         {"orch_agent_request_duration_seconds", "agent=rpcutil,action=ping", 3},
		"unknown action":       {"orch_agent_requests_total", "agent=_other,action=_other,status=unknown_action", 1},
		"unknown agent":        {"orch_agent_requests_total", "agent=_other,action=_other,status=unknown_agent", 1},
		"untrusted":            {"orch_agent_requests_total", "agent=rpcutil,action=ping,status=unauthorised", 1},
		"rejected untrusted":   {"orch_agent_rejections_total", "reason=unauthorised", 1},
		"rejected unknown":     {"orch_agent_rejections_total", "reason=unknown_action", 1},
		"failed":               {"orch_agent_requests_total", "agent=flaky,action=fail,status=aborted", 1},
		"provider error":       {"orch_agent_provider_errors_total", "agent=flaky,action=fail,status=aborted", 1},
		"provider panic error": {"orch_agent_provider_errors_total", "agent=flaky,action=crash,status=error", 1},
		"panic":                {"orch_agent_provider_panics_total", "agent=flaky,action=crash", 1},
		"no panic on fail":     {"orch_agent_provider_panics_total", "agent=flaky,action=fail", -1},
		"no aborted rejection": {"orch_agent_rejections_total", "reason=aborted", -1},
		"heartbeat errors":     {"orch_agent_registry_heartbeats_total", "result=error", 0},
		"version":              {"orch_agent_build_info", "version=1.2.3", 1},
		"process collector":    {"process_start_time_seconds", "", -2},
		"go collector":         {"go_goroutines", "", -2},
	}
	for name, w := range want {
		got := value(fams, w.metric, w.labels)
		if w.value == -2 { // present, any value
			if got < 0 {
				t.Errorf("%s: %s is missing", name, w.metric)
			}
			continue
		}
		if got != w.value {
			t.Errorf("%s: %s{%s} = %v, want %v", name, w.metric, w.labels, got, w.value)
		}
	}
	if ts := value(fams, "orch_agent_registry_last_heartbeat_timestamp_seconds", ""); ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last heartbeat at %v", ts)
	}
}

// TestHeartbeatError: a failed registration counts as an error, not ok.
func TestHeartbeatError(t *testing.T) {
	m := metrics.NewAgent("test")
	m.Heartbeat(errors.New("no registry"))
	ep, err := metrics.Listen("127.0.0.1:0", false, m.Registry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close(context.Background())
	fams := scrape(t, ep.URL())
	if e, ok := value(fams, "orch_agent_registry_heartbeats_total", "result=error"), value(fams, "orch_agent_registry_heartbeats_total", "result=ok"); e != 1 || ok != 0 {
		t.Errorf("heartbeats: error %v, ok %v; want 1, 0", e, ok)
	}
}
