package node_test

import (
	"testing"

	"github.com/orch-fleet/orch/node"
)

// TestDocumentedConfig keeps the example of docs/agent.md loadable.
func TestDocumentedConfig(t *testing.T) {
	cfg, diags := node.LoadConfig("testdata/web1.hcl")
	// The facts file of the example does not exist here; everything else
	// must be valid.
	for _, d := range diags {
		if d.Summary != "Cannot read facts_file" {
			t.Errorf("unexpected diagnostic: %s: %s", d.Summary, d.Detail)
		}
	}
	if cfg == nil {
		t.Fatal("config did not load")
	}
	if cfg.Identity != "web1" || len(cfg.Clients) != 2 || cfg.Policy == nil || len(cfg.Policy.Rules) != 2 {
		t.Errorf("decoded %+v", cfg)
	}
}
