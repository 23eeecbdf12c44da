package rpc

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
)

// DefaultBrokerGrace is how long a client waits for a broker to come back
// after its connection dropped before it gives up (fleet.ErrBrokerLost).
const DefaultBrokerGrace = 15 * time.Second

// BrokerWatch follows a client's connection to the broker: it tells its
// subscribers when the connection drops and when it comes back, and when no
// broker came back within the grace period it closes the connection, so
// that every call in flight and every later one fails at once with a
// *fleet.BrokerLostError naming the broker instead of waiting for its
// timeout and blaming the nodes.
//
//	w := rpc.NewBrokerWatch(0)
//	nc, err := rpc.Connect(ctx, servers, name, w.Options()...)
//	cl := rpc.NewClient(nc, key, rpc.ClientOptions{Broker: w})
type BrokerWatch struct {
	grace time.Duration

	mu     sync.Mutex
	url    string      // the broker last connected to
	down   bool        // disconnected, reconnecting
	timer  *time.Timer // gives up after grace; nil when connected
	err    error       // the *fleet.BrokerLostError once given up
	lost   chan struct{}
	subs   map[int]func(fleet.BrokerEvent)
	nextID int
}

// NewBrokerWatch returns a watch giving up grace after a disconnect; 0 =
// DefaultBrokerGrace.
func NewBrokerWatch(grace time.Duration) *BrokerWatch {
	if grace <= 0 {
		grace = DefaultBrokerGrace
	}
	return &BrokerWatch{grace: grace, lost: make(chan struct{}), subs: map[int]func(fleet.BrokerEvent){}}
}

// Grace is how long the watch waits for a broker to come back.
func (w *BrokerWatch) Grace() time.Duration { return w.grace }

// Options are the NATS options that connect the watch to a connection
// (its disconnect, reconnect and closed handlers); pass them to Connect.
func (w *BrokerWatch) Options() []nats.Option {
	return []nats.Option{
		nats.ConnectHandler(w.connected),
		nats.DisconnectErrHandler(w.disconnected),
		nats.ReconnectHandler(w.connected),
		nats.ClosedHandler(w.closed),
	}
}

// attach records the broker nc is connected to (the connect handler only
// runs for connections retried in the background).
func (w *BrokerWatch) attach(nc *nats.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if u := nc.ConnectedUrlRedacted(); u != "" && !w.down {
		w.url = u
	}
}

// Lost is closed when the watch gave up on the broker.
func (w *BrokerWatch) Lost() <-chan struct{} { return w.lost }

// Err is the *fleet.BrokerLostError once the watch gave up, else nil.
func (w *BrokerWatch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Down reports whether the connection is down and being re-established.
func (w *BrokerWatch) Down() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.down
}

// Notify calls fn for every later broker event (from NATS's callback
// goroutine or the watch's timer; fn must not block for long) until cancel
// is called.
func (w *BrokerWatch) Notify(fn func(fleet.BrokerEvent)) (cancel func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := w.nextID
	w.nextID++
	w.subs[id] = fn
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.subs, id)
	}
}

func (w *BrokerWatch) connected(nc *nats.Conn) {
	w.mu.Lock()
	was := w.down
	w.down = false
	w.url = nc.ConnectedUrlRedacted()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	if was {
		w.emit(fleet.BrokerEvent{Kind: fleet.BrokerReconnected, Broker: nc.ConnectedUrlRedacted()})
	}
}

func (w *BrokerWatch) disconnected(nc *nats.Conn, err error) {
	if nc.IsClosed() {
		return // closed on purpose (or by giving up): closed handles it
	}
	if err == nil {
		err = nats.ErrDisconnected
	}
	w.mu.Lock()
	if w.down || w.err != nil {
		w.mu.Unlock()
		return
	}
	w.down = true
	if w.url == "" {
		// Not recorded yet (the connection dropped before attach ran):
		// the broker it was given is the one it lost.
		w.url = RedactURL(nc.Opts.Url)
		if w.url == "" && len(nc.Opts.Servers) > 0 {
			w.url = RedactURL(nc.Opts.Servers[0])
		}
	}
	url := w.url
	w.timer = time.AfterFunc(w.grace, func() {
		w.giveUp(nc, fmt.Errorf("no broker came back within %s (disconnected: %v)", w.grace, err))
	})
	w.mu.Unlock()
	w.emit(fleet.BrokerEvent{Kind: fleet.BrokerDisconnected, Broker: url, Err: err})
}

// giveUp declares the broker lost and closes the connection, so that
// everything waiting on it ends now.
func (w *BrokerWatch) giveUp(nc *nats.Conn, why error) {
	w.mu.Lock()
	if !w.down || w.err != nil {
		w.mu.Unlock()
		return
	}
	w.err = &fleet.BrokerLostError{Broker: w.url, Err: why}
	url := w.url
	w.mu.Unlock()
	// Subscribers hear of the loss before the waiters wake: a run ending
	// on it has reported it.
	w.emit(fleet.BrokerEvent{Kind: fleet.BrokerLost, Broker: url, Err: why})
	close(w.lost)
	nc.Close()
}

// closed handles a connection closed while it was down (the reconnect
// attempts ran out) as a lost broker; closing a live connection on
// purpose is not an event.
func (w *BrokerWatch) closed(nc *nats.Conn) {
	err := nc.LastError()
	if err == nil {
		err = nats.ErrConnectionClosed
	}
	w.giveUp(nc, fmt.Errorf("the connection was closed while reconnecting: %w", err))
}

func (w *BrokerWatch) emit(e fleet.BrokerEvent) {
	w.mu.Lock()
	fns := make([]func(fleet.BrokerEvent), 0, len(w.subs))
	for _, fn := range w.subs {
		fns = append(fns, fn)
	}
	w.mu.Unlock()
	for _, fn := range fns {
		fn(e)
	}
}
