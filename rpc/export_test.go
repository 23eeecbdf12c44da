package rpc

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
)

// SetRequestPublisher makes c send its calls' requests (not its probes)
// through publish, so that tests can lose or redirect them.
func SetRequestPublisher(c *Client, publish func(*nats.Msg) error) { c.publish = publish }

// AcquireRunLockEvery is AcquireRunLock renewing every interval.
func AcquireRunLockEvery(ctx context.Context, nc *nats.Conn, collective, name, holder string, interval time.Duration) (*RunLock, error) {
	return acquireRunLock(ctx, nc, collective, name, holder, interval)
}

// SetReleaseWait bounds l's Release retries to d.
func SetReleaseWait(l *RunLock, d time.Duration) { l.releaseWait = d }
