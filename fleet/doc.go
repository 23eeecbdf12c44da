// Package fleet is the vocabulary that the playbook compiler, the engine,
// the bus and the nodes share: filters that select nodes (with the one
// fact-condition grammar), what a node says about itself (NodeInfo), a
// node's reply and its status codes. It is a leaf: it imports neither NATS
// nor HCL, so that the compiler can use it without linking the bus.
//
//	f := fleet.Filter{Facts: []fleet.FactFilter{must(fleet.ParseFactFilter("cluster=bravo"))}}
//	if f.Match(&info) { ... }
package fleet
