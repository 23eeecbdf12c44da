package rpc

import "github.com/nats-io/nats.go"

// SetRequestPublisher makes c send its calls' requests (not its probes)
// through publish, so that tests can lose or redirect them.
func SetRequestPublisher(c *Client, publish func(*nats.Msg) error) { c.publish = publish }
