package resources

// rpcutilPing is rpcutil_ping: every target node must answer a ping.
func rpcutilPing() *Type {
	return &Type{
		Name:        "rpcutil_ping",
		Description: "Every target node answers an rpcutil ping.",
		Agent:       "rpcutil",
		Action:      "ping",
		Request: func(map[string]any) (Request, error) {
			return Request{Agent: "rpcutil", Action: "ping", Input: map[string]any{}}, nil
		},
	}
}
