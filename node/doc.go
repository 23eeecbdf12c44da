// Package node is the orch node daemon (orch agent): it reads the node's
// HCL config, keeps its facts and classes, registers it in the collective's
// registry, hosts the configured providers behind an rpc.Server, and decides
// with the trust list and action policy who may call what, writing every
// request to the audit log.
package node
