package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// TestPingNamesVanishedNode: a node of the filter that left the registry
// without deregistering (a hung agent whose entry expired; simulated by
// removing its live entry the way expiry does, leaving its last heartbeat)
// makes ping exit 1 naming it as missing; discover names it on stderr;
// a node outside the filter does not count.
func TestPingNamesVanishedNode(t *testing.T) {
	f := startFleet(t, map[string]string{"web1": "alfa", "web2": "bravo"}, nil)
	nc := natsConn(t, f.url)
	ctx := context.Background()
	hung := fleet.NodeInfo{Identity: "web9", Collective: rpc.DefaultCollective, Facts: map[string]any{"cluster": "alfa"}, Agents: map[string]string{"rpcutil": "1"}}
	if err := rpc.Register(ctx, nc, hung, time.Minute); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, rpc.RegistryBucket(rpc.DefaultCollective))
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "web9"); err != nil {
		t.Fatal(err)
	}
	pb := filepath.Join(t.TempDir(), "ping.hcl")
	if err := os.WriteFile(pb, []byte(`variable "cluster" {
  type = string
}

nodes "web" {
  fact = { cluster = var.cluster }
}

resource "rpcutil_ping" "web" {
  targets = nodes.web
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args      []string
		code      int
		out, errs string
	}{
		"ping of its cluster": {[]string{"ping", "-F", "cluster=alfa"}, 1, "missing: web9 (missing since ", ""},
		"ping of another":     {[]string{"ping", "-F", "cluster=bravo"}, 0, "1/1 nodes answered OK", ""},
		"ping as JSON":        {[]string{"ping", "-F", "cluster=alfa", "-json"}, 1, `"vanished": [`, ""},
		"discover":            {[]string{"discover", "-F", "cluster=alfa"}, 0, "web1", "missing: web9 (missing since "},
		// A node set never shrinks silently: the vanished node is
		// targeted, said so, and named as not answering.
		"apply to its cluster": {[]string{"apply", pb, "-var", "cluster=alfa", "--plain"}, 1, "left the registry without stopping; targeted anyway (a node that is gone will not answer): web9 (missing since ", ""},
		"apply to another":     {[]string{"apply", pb, "-var", "cluster=bravo", "--plain"}, 0, "nodes.web: 1 node(s)", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := f.orch(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.errs) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			if strings.HasPrefix(name, "apply to its") {
				if !strings.Contains(out, "web9") || !strings.Contains(out+errOut, "no answer") {
					t.Fatalf("web9 not named as not answering:\n%s\n%s", out, errOut)
				}
				return
			}
			if strings.Contains(out, "web9 ") && !strings.Contains(out, "missing: web9") {
				t.Fatalf("web9 was pinged:\n%s", out)
			}
		})
	}
}
