// Package sysfacts collects a node's system facts: built-in facts read
// from the kernel and the OS (os, kernel, cpu, memory, networking, system)
// and external facts from the files and executables of a facts.d
// directory, Facter style. The node daemon layers its configured facts
// over them (Merge) and refreshes them on an interval and on SIGHUP
// (Source). docs/agent.md lists every fact.
//
//	c := sysfacts.Collector{Root: "testdata/debian12"}
//	facts, err := c.Collect(ctx) // facts["os"].(map[string]any)["family"] == "debian"
//	// err joins what could not be read; facts holds the rest.
//
// Facts are plain JSON values (strings, float64 numbers, bools, nested
// maps), the types they have once they crossed the wire, so that filters
// such as -F os.family=debian and -F memory.total_mb>=4096 see the same
// values on the node and in the registry.
package sysfacts
