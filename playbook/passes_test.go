package playbook

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/resources"
)

// updating reports the -update flag (declared in golden_test.go).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestPasses runs the compiler up to one pass on each playbook under
// testdata/passes/PASS and compares the diagnostics and what the pass
// produced with the golden file beside it (go test ./catalog -update
// rewrites them).
func TestPasses(t *testing.T) {
	for _, p := range passes() {
		files, _ := filepath.Glob(filepath.Join("../testdata/passes", p.name, "*.hcl"))
		if len(files) == 0 {
			t.Errorf("pass %s has no golden cases in testdata/passes/%s", p.name, p.name)
		}
		for _, f := range files {
			t.Run(p.name+"/"+filepath.Base(f), func(t *testing.T) {
				c := newCompiler(f, resources.Builtin(), LoadOptions{Schemas: builtin.Schema})
				diags := c.run(p.name)
				var buf bytes.Buffer
				WriteDiagnostics(&buf, c.parser.Files(), diags, false)
				fmt.Fprintf(&buf, "# stopped after %s\n", c.ran)
				if c.ran == p.name && !c.fatal {
					passDump[p.name](&buf, c)
				}
				golden := strings.TrimSuffix(f, ".hcl") + ".golden"
				if updating() {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./catalog -update)", err)
				}
				if buf.String() != string(want) {
					t.Errorf("differs from %s:\n--- got\n%s\n--- want\n%s", golden, buf.String(), want)
				}
			})
		}
	}
}

// passDump writes what each pass leaves in the compiler, readably.
var passDump = map[string]func(*bytes.Buffer, *compiler){
	"decode": func(b *bytes.Buffer, c *compiler) {
		m := c.root
		for _, v := range m.vars {
			fmt.Fprintf(b, "variable %s: %s\n", v.name, v.typ.FriendlyName())
		}
		for _, l := range m.locals {
			fmt.Fprintf(b, "local %s\n", l.Name)
		}
		for _, n := range m.nodes {
			fmt.Fprintf(b, "nodes %s\n", n.name)
		}
		for _, r := range m.resources {
			fmt.Fprintf(b, "resource %s\n", r.key())
		}
		for _, call := range m.calls {
			fmt.Fprintf(b, "module %s (%s)\n", call.name, call.source)
		}
	},
	"variables":   dumpVars,
	"validations": dumpVars,
	"references": func(b *bytes.Buffer, c *compiler) {
		for _, d := range c.root.graph.order {
			deps := d.refs.depAddrs()
			sort.Strings(deps)
			fmt.Fprintf(b, "%s <- %v\n", d.addr, deps)
		}
	},
	"evaluate": func(b *bytes.Buffer, c *compiler) {
		for _, in := range c.ev.insts {
			args, _ := knownArgs(in.args)
			fmt.Fprintf(b, "%s node_sets=%v args=%v\n", in.addr, sortedKeys(in.nodeSets), args)
		}
	},
	"expand": func(b *bytes.Buffer, c *compiler) {
		for _, in := range c.ev.insts {
			fmt.Fprintf(b, "%s <- %v\n", in.addr, sortedKeys(c.deps[in.addr]))
		}
	},
	"instances": dumpCatalog,
	"requests":  dumpCatalog,
}

func dumpVars(b *bytes.Buffer, c *compiler) {
	for _, v := range c.root.vars {
		if val, ok := c.vars[v.name]; ok {
			fmt.Fprintf(b, "var.%s = %s\n", v.name, renderValue(val))
		}
	}
}

func dumpCatalog(b *bytes.Buffer, c *compiler) {
	if c.cat == nil {
		return
	}
	for _, r := range c.cat.Resources {
		fmt.Fprintf(b, "%s <- %v\n", r.Addr, r.DependsOn)
	}
}
