package rpc

import (
	"context"

	"github.com/orch-fleet/orch/fleet"
)

// Fleet is a client bound to a way of discovering: what the engine (its
// Fleet interface) and the call executor (its Caller) need of the bus.
type Fleet struct {
	*Client
	Discovery DiscoverOptions
}

// NewFleet returns the fleet behind c, discovering with o.
func NewFleet(c *Client, o DiscoverOptions) *Fleet { return &Fleet{Client: c, Discovery: o} }

// Discover returns the identities the filter selects, sorted.
func (f *Fleet) Discover(ctx context.Context, filter fleet.Filter) ([]string, error) {
	nodes, err := f.Client.Discover(ctx, filter, f.Discovery)
	if err != nil {
		return nil, f.connErr(err)
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.Identity
	}
	return ids, nil
}

// DiscoverWithMissing returns the identities the filter selects, sorted,
// and the nodes it selects that left the registry without stopping
// (engine.MissingFinder); broadcast discovery finds none of the latter.
func (f *Fleet) DiscoverWithMissing(ctx context.Context, filter fleet.Filter) ([]string, []fleet.MissingNode, error) {
	d, err := f.Client.DiscoverFleet(ctx, filter, f.Discovery)
	if err != nil {
		return nil, nil, f.connErr(err)
	}
	ids := make([]string, len(d.Nodes))
	for i, n := range d.Nodes {
		ids[i] = n.Identity
	}
	return ids, d.Missing, nil
}

// NotifyBroker calls fn for every later change of the connection to the
// broker (engine.BrokerNotifier); without a BrokerWatch there are none.
func (f *Fleet) NotifyBroker(fn func(fleet.BrokerEvent)) (cancel func()) {
	if f.o.Broker == nil {
		return func() {}
	}
	return f.o.Broker.Notify(fn)
}
