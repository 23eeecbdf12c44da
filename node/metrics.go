package node

import "github.com/orch-fleet/orch/rpc"

// Metrics observes a node for monitoring: its requests and provider calls
// (rpc.Metrics) and its registry heartbeats. internal/metrics implements
// it with Prometheus.
type Metrics interface {
	rpc.Metrics
	// Heartbeat is called after each registration in the registry (at
	// start, on every register_interval, after a reconnect and after a
	// reload) with its error, nil on success.
	Heartbeat(err error)
}

// heartbeat reports a registration's result to the metrics, if any, and
// returns err.
func (n *Node) heartbeat(err error) error {
	if n.o.Metrics != nil {
		n.o.Metrics.Heartbeat(err)
	}
	return err
}
