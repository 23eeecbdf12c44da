// Package rpc is orch's wire protocol over NATS: request and reply envelopes,
// ed25519 signatures (nkeys), node filters, discovery (registry and
// broadcast), the client that calls actions on many nodes at once, and the
// node-side server that checks and dispatches requests to providers.
//
// See docs/protocol.md for the subjects, the envelopes and the verification
// order.
package rpc
