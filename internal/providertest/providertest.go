// Package providertest builds providers from HCL text for their tests.
package providertest

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/rpc"
)

// Body parses the inside of a `provider "NAME" { ... }` block.
func Body(t testing.TB, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "node.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body
}

// New builds the provider from its block's source, failing the test on any
// diagnostic.
func New(t testing.TB, spec providers.Spec, src string, env providers.Env) rpc.Handler {
	t.Helper()
	h, diags := spec.New(Body(t, src), env)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return h
}
