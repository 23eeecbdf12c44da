package scalebench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Floor is a raw nats.go fleet: n subscribers on a few connections, each
// answering a fixed reply on its own subject and on one broadcast subject.
type Floor struct {
	cl       *nats.Conn
	subjects []string
	subs     []*nats.Subscription
}

var floorReply = []byte(`{"v":1,"status":"ok","data":{"time":"2026-01-01T00:00:00Z"}}`)

// NewFloor subscribes n raw responders on conns; cl is the client's
// connection.
func NewFloor(conns []*nats.Conn, cl *nats.Conn, n int) (*Floor, error) {
	f := &Floor{cl: cl}
	answer := func(m *nats.Msg) { _ = m.Respond(floorReply) }
	for i := range n {
		nc := conns[i%len(conns)]
		subj := fmt.Sprintf("raw.node.%d", i)
		for _, s := range []string{subj, "raw.bcast"} {
			sub, err := nc.Subscribe(s, answer)
			if err != nil {
				return nil, err
			}
			f.subs = append(f.subs, sub)
		}
		f.subjects = append(f.subjects, subj)
	}
	for _, nc := range conns {
		if err := nc.Flush(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Close unsubscribes the responders.
func (f *Floor) Close() {
	for _, s := range f.subs {
		_ = s.Unsubscribe()
	}
}

// Ping publishes to every responder onto one inbox and waits for all.
func (f *Floor) Ping() error {
	return f.gather(len(f.subjects), func(inbox string) error {
		for _, s := range f.subjects {
			if err := f.cl.PublishRequest(s, inbox, []byte(`{"agent":"rpcutil","action":"ping"}`)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Broadcast publishes one request every responder answers and waits for
// all (it knows how many there are: no quiet window).
func (f *Floor) Broadcast() error {
	return f.gather(len(f.subjects), func(inbox string) error {
		return f.cl.PublishRequest("raw.bcast", inbox, []byte(`{"discover":true}`))
	})
}

func (f *Floor) gather(want int, send func(inbox string) error) error {
	inbox := nats.NewInbox()
	ch := make(chan *nats.Msg, want+16)
	sub, err := f.cl.ChanSubscribe(inbox, ch)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(-1, -1)
	if err := send(inbox); err != nil {
		return err
	}
	timeout := time.After(30 * time.Second)
	for range want {
		select {
		case <-ch:
		case <-timeout:
			return errors.New("floor: timed out")
		}
	}
	return nil
}

// ReadBucket reads every value of a key-value bucket with a plain watch
// (no decoding): the floor of registry discovery.
func ReadBucket(ctx context.Context, nc *nats.Conn, bucket string, want int) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	n := 0
	for e := range w.Updates() {
		if e == nil {
			break
		}
		n++
	}
	if n != want {
		return fmt.Errorf("floor read %d of %d entries", n, want)
	}
	return nil
}
