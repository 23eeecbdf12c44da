package orch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch"
	"github.com/orch-fleet/orch/engine"
	"github.com/orch-fleet/orch/history"
)

// TestApplyRecordsItsRun checks that Fleet.Apply records its run in the
// run history as orch apply does, naming the SDK caller.
func TestApplyRecordsItsRun(t *testing.T) {
	ctx := context.Background()
	fleet, err := orch.Connect(ctx, orch.Options{Servers: []string{os.Getenv("ORCH_SERVER")}, KeyFile: os.Getenv("ORCH_KEY"), Name: "sdk-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	p := filepath.Join(t.TempDir(), "ping.hcl")
	pb := "variable \"secret\" {\n  default   = \"x\"\n  sensitive = true\n}\nnodes \"all\" {}\nresource \"rpcutil_ping\" \"all\" {\n  targets = nodes.all\n}\n"
	if err := os.WriteFile(p, []byte(pb), 0o644); err != nil {
		t.Fatal(err)
	}
	warned := 0
	rep, err := fleet.Apply(ctx, p, orch.ApplyOptions{HistoryWarn: func(error) { warned++ }})
	if err != nil || rep.Outcome != engine.OutcomeOK || warned != 0 {
		t.Fatalf("apply: %v, %+v, %d warnings", err, rep, warned)
	}
	nc, err := nats.Connect(os.Getenv("ORCH_SERVER"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := history.Open(ctx, nc, "orch")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.List(ctx, history.Filter{Playbook: p})
	if err != nil || len(recs) != 1 {
		t.Fatalf("runs of %s: %v %+v", p, err, recs)
	}
	r := recs[0]
	if r.Caller.Name != "sdk-test" || r.Outcome != engine.OutcomeOK || len(r.Vars) != 1 || r.Vars[0].Value != `"(sensitive)"` {
		t.Errorf("record %+v", r)
	}
	if evs, err := st.Events(ctx, r.ID); err != nil || len(evs) == 0 || evs[len(evs)-1].Type != engine.EventRunEnd {
		t.Errorf("events %v %+v", err, evs)
	}
}
