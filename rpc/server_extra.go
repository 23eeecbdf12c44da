package rpc

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// extraAgents are the agents a server serves beside ServerOptions.Handlers,
// which can change while it runs (a node's external agents, reloaded on
// SIGHUP): their handlers and their subscriptions.
type extraAgents struct {
	mu       sync.RWMutex
	handlers map[string]Handler
	subs     map[string][]*nats.Subscription
}

// handler returns the handler of agent: a fixed one, else an extra one.
func (s *Server) handler(agent string) (Handler, bool) {
	if h, ok := s.o.Handlers[agent]; ok {
		return h, true
	}
	s.extra.mu.RLock()
	defer s.extra.mu.RUnlock()
	h, ok := s.extra.handlers[agent]
	return h, ok
}

// SetExtra replaces the extra agents the server serves beside
// ServerOptions.Handlers (whose names it refuses): it subscribes the
// subjects of new agents, unsubscribes those of agents no longer there and
// swaps in the new handlers. Requests in flight finish with the handler
// they started with. Without a deadline on ctx, the wait for the broker
// to confirm the subscriptions is bounded to 10s. Safe to call at any time after NewServer, also
// concurrently with requests.
func (s *Server) SetExtra(ctx context.Context, handlers map[string]Handler) error {
	for name := range handlers {
		if _, fixed := s.o.Handlers[name]; fixed || name == DiscoveryAgent {
			return fmt.Errorf("rpc server: agent %q is already served", name)
		}
	}
	handlers = maps.Clone(handlers)
	e := &s.extra
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subs == nil {
		e.subs = map[string][]*nats.Subscription{}
	}
	var errs []error
	for name, subs := range e.subs {
		if _, keep := handlers[name]; !keep {
			for _, sub := range subs {
				_ = sub.Unsubscribe()
			}
			delete(e.subs, name)
		}
	}
	for _, name := range sortedKeys(handlers) {
		if _, ok := e.subs[name]; ok {
			continue
		}
		subs, err := s.subscribeAgent(name)
		if err != nil {
			errs = append(errs, err)
			delete(handlers, name)
			continue
		}
		e.subs[name] = subs
	}
	e.handlers = handlers
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flushing subscriptions: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("rpc server: %v", errs)
	}
	return nil
}

// subscribeAgent subscribes an agent's broadcast and any-one subjects.
func (s *Server) subscribeAgent(agent string) ([]*nats.Subscription, error) {
	c := s.o.Collective
	b, err := s.nc.Subscribe(BroadcastSubject(c, agent), func(m *nats.Msg) { s.dispatch(m, kindBroadcast) })
	if err != nil {
		return nil, fmt.Errorf("subscribing agent %s: %w", agent, err)
	}
	a, err := s.nc.QueueSubscribe(AnyOneSubject(c, agent), QueueGroup(agent), func(m *nats.Msg) { s.dispatch(m, kindAnyOne) })
	if err != nil {
		_ = b.Unsubscribe()
		return nil, fmt.Errorf("subscribing agent %s: %w", agent, err)
	}
	return []*nats.Subscription{b, a}, nil
}

// unsubscribeExtra drops the extra agents' subscriptions, on Shutdown.
func (s *Server) unsubscribeExtra() {
	s.extra.mu.Lock()
	defer s.extra.mu.Unlock()
	for _, subs := range s.extra.subs {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}
	s.extra.subs = nil
}
