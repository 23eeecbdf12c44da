package fleet

import (
	"errors"
	"fmt"
)

// ErrBrokerLost is wrapped by the error of a call, discovery or run that
// could not go on because the connection to the broker was lost and no
// broker came back within the client's grace period. errors.Is works on a
// *BrokerLostError.
var ErrBrokerLost = errors.New("lost the broker")

// BrokerLostError names the broker that was lost and why.
type BrokerLostError struct {
	Broker string // the URL of the broker last connected to, credentials redacted
	Err    error  // why: the disconnect's cause and how long was waited
}

// Error is "lost the broker nats://host:4222: why".
func (e *BrokerLostError) Error() string {
	if e.Broker == "" {
		return fmt.Sprintf("%v: %v", ErrBrokerLost, e.Err)
	}
	return fmt.Sprintf("%v %s: %v", ErrBrokerLost, e.Broker, e.Err)
}

// Is makes errors.Is(err, ErrBrokerLost) true.
func (e *BrokerLostError) Is(target error) bool { return target == ErrBrokerLost }

// Unwrap returns the cause.
func (e *BrokerLostError) Unwrap() error { return e.Err }

// BrokerEventKind says what happened to the connection to the broker.
type BrokerEventKind string

// The kinds of broker events, in the order they can happen.
const (
	BrokerDisconnected BrokerEventKind = "disconnected" // the connection dropped; reconnecting
	BrokerReconnected  BrokerEventKind = "reconnected"  // connected again (maybe to another broker)
	BrokerLost         BrokerEventKind = "lost"         // no broker came back in time: calls fail with ErrBrokerLost
)

// BrokerEvent is a change of a client's connection to the broker.
type BrokerEvent struct {
	Kind   BrokerEventKind
	Broker string // the broker's URL, credentials redacted
	// Err is why the connection dropped (disconnected) or was given up
	// (lost); nil when reconnected.
	Err error
}

// String is the event as one line for people, naming the broker.
func (e BrokerEvent) String() string {
	switch e.Kind {
	case BrokerDisconnected:
		return fmt.Sprintf("lost the connection to the broker %s: %v; reconnecting", e.Broker, e.Err)
	case BrokerReconnected:
		return fmt.Sprintf("reconnected to the broker %s", e.Broker)
	default:
		return (&BrokerLostError{Broker: e.Broker, Err: e.Err}).Error()
	}
}
