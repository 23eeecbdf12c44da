package engine

import (
	"context"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// rpcFleet adapts an rpc.Client to Fleet.
type rpcFleet struct {
	c *rpc.Client
	o rpc.DiscoverOptions
}

// NewFleet returns the fleet behind an rpc client, discovering with o.
func NewFleet(c *rpc.Client, o rpc.DiscoverOptions) Fleet { return &rpcFleet{c: c, o: o} }

func (f *rpcFleet) Discover(ctx context.Context, filter fleet.Filter) ([]string, error) {
	nodes, err := f.c.Discover(ctx, filter, f.o)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.Identity
	}
	return ids, nil
}

func (f *rpcFleet) Call(ctx context.Context, r rpc.CallRequest) (*rpc.CallResult, error) {
	return f.c.Call(ctx, r)
}

func (f *rpcFleet) CallAnyOne(ctx context.Context, r rpc.CallRequest) (*rpc.CallResult, error) {
	return f.c.CallAnyOne(ctx, r)
}
