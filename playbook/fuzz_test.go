package playbook_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/playbook"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
)

// fuzzTimeout bounds one input's compilation and evaluation: the limits
// must stop any runaway long before it.
const fuzzTimeout = 10 * time.Second

// fuzzOptions are lower instance limits than the defaults, so that inputs
// that reach them cost milliseconds, not seconds.
var fuzzOptions = playbook.LoadOptions{Schemas: builtin.Schema, MaxInstances: 200, MaxCatalogInstances: 2000}

// FuzzCompile compiles arbitrary bytes as a native-syntax playbook and,
// when they compile, evaluates every resource with its node sets and
// earlier results filled in. No input may panic or run away.
//
//	go test ./playbook -run '^$' -fuzz '^FuzzCompile$' -fuzztime 2m
func FuzzCompile(f *testing.F) { fuzzPlaybook(f, ".hcl") }

// FuzzCompileJSON is FuzzCompile for HCL's JSON syntax (*.hcl.json).
func FuzzCompileJSON(f *testing.F) { fuzzPlaybook(f, ".hcl.json") }

func fuzzPlaybook(f *testing.F, ext string) {
	for _, root := range []string{"../testdata/playbooks", "../examples"} {
		_ = filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ext) { // ".hcl" excludes ".hcl.json"
				if src, err := os.ReadFile(p); err == nil {
					f.Add(src)
				}
			}
			return nil
		})
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(t.TempDir(), "fuzz"+ext)
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			compileAndEvaluate(path)
		}()
		select {
		case <-done:
		case <-time.After(fuzzTimeout):
			t.Fatalf("compiling and evaluating took more than %s", fuzzTimeout)
		}
	})
}

// compileAndEvaluate compiles the playbook at path and, when it compiles,
// runs every resource's late evaluation as the engine would: each node set
// resolved to two identities, each earlier result to no nodes.
func compileAndEvaluate(path string) {
	cat, diags := playbook.Load(path, resources.Builtin(), fuzzOptions)
	if diags.HasErrors() {
		return
	}
	res := catalog.Resolved{}
	for addr := range cat.NodeSets {
		res[addr] = []string{"n1.example", "n2.example"}
	}
	for _, r := range cat.Resources {
		for _, a := range catalog.ResultAttrs() {
			res[catalog.ResultKey(r.Addr, a)] = nil
		}
	}
	reply := &fleet.Reply{Identity: "n1.example", Status: fleet.StatusOK, Data: []byte(`{"exitcode":0,"output":"OK"}`)}
	for _, r := range cat.Resources {
		_, _ = r.Late.Targets(res)
		_, _ = r.Late.Args(res)
		_ = r.Late.Expect(reply)
	}
}
