package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// daemon runs an orch daemon command in-process until the test ends (or
// stop is called), with its output readable while it runs.
func daemon(t *testing.T, args ...string) (stdout, stderr *syncBuffer, stop func() int) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	signals := make(chan os.Signal, 1)
	done := make(chan int, 1)
	e := &env{stdout: stdout, stderr: stderr, signals: signals, getenv: func(string) string { return "" }}
	go func() { done <- run(context.Background(), e, args) }()
	code, stopped := 0, false
	stop = func() int {
		if !stopped {
			stopped = true
			signals <- os.Interrupt
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return stdout, stderr, stop
}

// jsonLines parses every line of a JSON log; each must hold time, level
// and msg.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q (%v)", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line %q has no %q", line, k)
			}
		}
		out = append(out, m)
	}
	return out
}

// metricsURL waits for the daemon's "serving metrics" JSON log line and
// returns its url.
func metricsURL(t *testing.T, stderr *syncBuffer) string {
	t.Helper()
	var url string
	eventually(t, 10*time.Second, "no \"serving metrics\" log line", func() bool {
		if !strings.Contains(stderr.String(), `"serving metrics"`) {
			return false
		}
		for _, m := range jsonLines(t, stderr.String()) {
			if m["msg"] == "serving metrics" {
				url, _ = m["url"].(string)
			}
		}
		return url != ""
	})
	return url
}

// scrapeText fetches a metrics endpoint's text exposition.
func scrapeText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}

// metricValue is the value of the series written exactly as series
// (name{labels} as exposed), or -1 when there is none.
func metricValue(text, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestBrokerMetricsAndJSONLogs runs `orch broker --metrics-listen
// --log-format json`, makes traffic and scrapes the broker's endpoint.
func TestBrokerMetricsAndJSONLogs(t *testing.T) {
	stdout, stderr, stop := daemon(t, "broker", "--listen", "127.0.0.1:0", "--store-dir", t.TempDir(),
		"--metrics-listen", "127.0.0.1:0", "--log-format", "json")
	murl := metricsURL(t, stderr)
	url := strings.TrimPrefix(strings.TrimSpace(stdout.String()), "orch broker listening on ")
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, _ := nc.SubscribeSync("traffic")
	for i := range 50 {
		if err := nc.Publish("traffic", []byte(fmt.Sprintf("message %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "metrics_test", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "k", []byte(strings.Repeat("x", 1000))); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	text := scrapeText(t, murl)
	atLeast := map[string]float64{
		"orch_broker_connections":                 1,
		"orch_broker_connections_total":           1,
		"orch_broker_subscriptions":               1,
		"orch_broker_in_msgs_total":               50,
		"orch_broker_out_msgs_total":              50,
		"orch_broker_in_bytes_total":              450, // 50 × len("message 0")
		"orch_broker_out_bytes_total":             450, // 50 × len("message 0")
		"orch_broker_slow_consumers_total":        0,
		"orch_broker_jetstream_streams":           1,
		"orch_broker_jetstream_messages":          1,
		"orch_broker_jetstream_storage_bytes":     1000,
		"orch_broker_jetstream_memory_bytes":      0,
		"orch_broker_jetstream_max_storage_bytes": 1,
		"process_resident_memory_bytes":           1,
	}
	for series, min := range atLeast {
		if got := metricValue(text, series); got < min {
			t.Errorf("%s = %v, want at least %v", series, got, min)
		}
	}
	if stop() != exitOK {
		t.Fatalf("broker exit %d\n%s", stop(), stderr.String())
	}
	var notices int
	for _, m := range jsonLines(t, stderr.String()) {
		if m["component"] == "nats-server" {
			notices++
		}
	}
	if notices == 0 {
		t.Errorf("no nats-server notice among the log lines:\n%s", stderr.String())
	}
}

// TestAgentMetricsAndJSONLogs runs `orch agent --log-format json` with
// metrics_listen, calls it and scrapes its endpoint.
func TestAgentMetricsAndJSONLogs(t *testing.T) {
	s := natstest.Start(t)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.hcl")
	text := fmt.Sprintf("identity = \"web1\"\nservers = [%q]\ndata_dir = %q\nmetrics_listen = \"127.0.0.1:0\"\nclient \"ops\" { key = %q }\n",
		natstest.URL(s), dir, pub)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, stop := daemon(t, "agent", "--config", cfg, "--log-format", "json")
	murl := metricsURL(t, stderr)
	nc := natsConn(t, natstest.URL(s))
	c := rpc.NewClient(nc, kp, rpc.ClientOptions{Name: "ops"})
	eventually(t, 10*time.Second, "the agent never answered a ping", func() bool {
		res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "rpcutil", Action: "ping", Targets: []string{"web1"}, Timeout: time.Second})
		return err == nil && len(res.Replies) == 1 && res.Replies[0].OK()
	})
	m := scrapeText(t, murl)
	for series, want := range map[string]float64{
		`orch_agent_requests_total{action="ping",agent="rpcutil",status="ok"}`:     1,
		`orch_agent_request_duration_seconds_count{action="ping",agent="rpcutil"}`: 1,
		`orch_agent_registry_heartbeats_total{result="ok"}`:                        1,
		fmt.Sprintf(`orch_agent_build_info{version=%q}`, version):                  1,
	} {
		if got := metricValue(m, series); got < want {
			t.Errorf("%s = %v, want at least %v", series, got, want)
		}
	}
	if code := stop(); code != exitOK {
		t.Fatalf("agent exit %d\n%s", code, stderr.String())
	}
	var request map[string]any
	for _, l := range jsonLines(t, stderr.String()) {
		if l["msg"] == "request" && l["action"] == "ping" {
			request = l
		}
	}
	for _, k := range []string{"node", "caller", "agent", "action", "status"} {
		if _, ok := request[k]; !ok {
			t.Errorf("the request log line %v has no %q", request, k)
		}
	}
}

// TestDaemonFlagsRefused: bad log flags and a metrics address beyond
// loopback are usage errors (exit 2), before anything starts.
func TestDaemonFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.hcl")
	remote := filepath.Join(dir, "remote.hcl")
	base := fmt.Sprintf("identity = \"web1\"\nservers = [\"nats://127.0.0.1:1\"]\ndata_dir = %q\n", dir)
	for path, extra := range map[string]string{cfg: "", remote: "metrics_listen = \"0.0.0.0:9464\"\n"} {
		if err := os.WriteFile(path, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"agent log format":      {[]string{"agent", "--config", cfg, "--check", "--log-format", "xml"}, "--log-format \"xml\""},
		"agent log level":       {[]string{"agent", "--config", cfg, "--check", "--log-level", "loud"}, "--log-level \"loud\""},
		"agent remote metrics":  {[]string{"agent", "--config", remote, "--check"}, "metrics_allow_remote"},
		"broker log format":     {[]string{"broker", "--log-format", "xml"}, "--log-format \"xml\""},
		"broker remote metrics": {[]string{"broker", "--metrics-listen", "0.0.0.0:9465"}, "--metrics-allow-remote"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runOrch(t, tt.args...)
			if code != exitInvalid || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s", code, exitInvalid, tt.want, errOut)
			}
		})
	}
}
