// Package external serves external agents: agents written in any language,
// each a directory under the node's agents directory (agents_dir, by
// default /etc/orch/agents.d) holding an executable and its action schema:
//
//	/etc/orch/agents.d/motd/motd          the executable, named after the agent
//	/etc/orch/agents.d/motd/schema.json   its schema (or schema.hcl; package ddlfile)
//
// Load reads such a directory and refuses, each with a reason, the agents
// whose names, files, ownership or schemas are wrong. Each Agent is an
// rpc.Handler: the node's server validates a request's input against its
// schema before the agent runs the executable once per request, with the
// request as one JSON object on its standard input (Request), and in
// ORCH_* environment variables for agents that read no JSON, and its reply
// as one JSON object on its standard output (Reply). The executable runs
// in a process group of its own, killed as a whole at the request's
// deadline or the agent timeout, whichever comes first; its output is
// capped. docs/agents.md is the user's guide.
//
//	set, refused := external.Load(ctx, "/etc/orch/agents.d", external.Options{Reserved: []string{"rpcutil"}})
//	for _, r := range refused { log.Error("external agent refused", "agent", r.Name, "err", r.Err) }
//	h := set.Agents()["motd"] // an rpc.Handler
package external
