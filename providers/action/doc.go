// Package action lets a provider declare each of its actions once: the
// action's schema entry (a ddl.Action) beside the handler that serves it,
// which receives the call's input decoded into a typed struct. A Table of
// such actions is both the agent's schema and its dispatcher, so the two
// cannot drift apart.
//
//	type disableInput struct {
//		Backend string   `json:"backend"`
//		Servers []string `json:"servers"`
//	}
//
//	func table() *action.Table[*Handler] {
//		return action.NewTable(ddl.Agent{Name: "haproxy", Version: "1.0.0"},
//			action.New(&ddl.Action{Name: "disable", Inputs: []ddl.Input{...}}, (*Handler).disable),
//		)
//	}
//
//	func (h *Handler) disable(ctx context.Context, c *rpc.Call, in *disableInput) (*rpc.Result, error)
//
// The handler's input has the schema's defaults filled in: a default is
// declared once, in the schema, and nowhere else.
package action
