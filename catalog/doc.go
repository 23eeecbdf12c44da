// Package catalog is the compiled form of a playbook, as plain data: the
// resource instances in a deterministic topological order with their
// arguments known at compile time, the node sets they discover, and the
// dependencies between them. The playbook compiler (package playbook)
// produces it; the engine walks it. What can only be evaluated at apply time
// — targets and arguments that depend on discovery or on earlier results,
// and expect checks on replies — sits behind one interface, Late.
//
// The package links neither HCL nor NATS.
//
//	for _, r := range cat.Resources {
//		fmt.Println(r.Addr, r.Type, r.DependsOn)
//	}
package catalog
