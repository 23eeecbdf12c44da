package rpc

import (
	"errors"
	"time"

	"github.com/orch-fleet/orch/fleet"
)

// Metrics observes what a Server does, for monitoring (internal/metrics
// implements it with Prometheus). Its methods are called on the request's
// goroutine, concurrently: they must be quick and safe for concurrent use.
type Metrics interface {
	// Request is called once per answered request (accepted or refused,
	// the same requests the Audit hook sees), after the reply is built.
	Request(RequestStats)
	// Provider is called once per request a provider handled, when its
	// handler returned or panicked.
	Provider(ProviderStats)
}

// RequestStats describe one answered request. Agent and Action are those
// of an action the node serves (or DiscoveryAgent and "discover"), else
// both "": a caller cannot grow a metric's label values by sending made-up
// names, signed or not.
type RequestStats struct {
	Agent, Action string
	Status        fleet.Status
	Elapsed       time.Duration
}

// ProviderStats describe one provider call.
type ProviderStats struct {
	Agent, Action string
	// Status is the call's outcome as it will be answered: StatusOK, the
	// status of a returned *fleet.StatusError, StatusAborted for any other
	// error, StatusInternalError for a panic.
	Status   fleet.Status
	Panicked bool
}

// observeRequest reports an answered request to the Metrics hook.
func (s *Server) observeRequest(req *Request, reply *fleet.Reply) {
	if s.o.Metrics == nil {
		return
	}
	agent, action := s.servedAction(req.Agent, req.Action)
	s.o.Metrics.Request(RequestStats{Agent: agent, Action: action, Status: reply.Status, Elapsed: reply.Elapsed})
}

// observeProvider reports a provider call to the Metrics hook; r is what
// recover returned, err what the handler returned.
func (s *Server) observeProvider(c *Call, r any, err error) {
	if s.o.Metrics == nil {
		return
	}
	st := ProviderStats{Agent: c.Agent, Action: c.Action, Status: fleet.StatusOK}
	var se *fleet.StatusError
	switch {
	case r != nil:
		st.Status, st.Panicked = fleet.StatusInternalError, true
	case errors.As(err, &se):
		st.Status = se.Status
	case err != nil:
		st.Status = fleet.StatusAborted
	}
	s.o.Metrics.Provider(st)
}

// servedAction returns agent and action when the node serves them, else
// "", "".
func (s *Server) servedAction(agent, action string) (string, string) {
	if agent == DiscoveryAgent && action == "discover" {
		return agent, action
	}
	if h, ok := s.o.Handlers[agent]; ok {
		if _, ok := h.Schema().Action(action); ok {
			return agent, action
		}
	}
	return "", ""
}
