package engine

import (
	"time"

	"github.com/orch-fleet/orch/fleet"
)

// EventType names an event of a run. docs/cli.md documents the schema of
// each as written by orch apply -json.
type EventType string

// The events of a run, in the order they can occur.
const (
	EventRunStart      EventType = "run_start"      // Resources, NoOp
	EventNodeSet       EventType = "node_set"       // NodeSet, Nodes, Missing (of Nodes: left the registry without stopping), Message (the filter)
	EventResourceStart EventType = "resource_start" // Resource, Agent, Action, Nodes (targets), AnyOne, BatchSize
	EventNodeResult    EventType = "node_result"    // Resource, Node, Status ("" = no answer), OK, Changed, Message, Attempt, Elapsed
	EventResourceRetry EventType = "resource_retry" // Resource, Attempt (the next), Nodes (still failing), Message
	EventBatch         EventType = "batch"          // Resource (the rollout), Batch (1-based), Nodes (the batch), Message
	EventResourceEnd   EventType = "resource_end"   // Resource, Outcome, Message (reason), counts, Elapsed, FailOK
	// EventBroker can come at any time: the connection to the broker
	// dropped, came back, or was given up (the run then fails).
	EventBroker  EventType = "broker"   // Broker (URL), Connection (disconnected, reconnected, lost), OK (connected again), Message
	EventRunStop EventType = "run_stop" // Message: why the engine stops the run itself (the run lock was lost)
	EventRunEnd  EventType = "run_end"  // Outcome, Summary, Elapsed
)

// Event is one thing that happened in a run.
type Event struct {
	Type     EventType `json:"type"`
	Time     time.Time `json:"time"`
	Resource string    `json:"resource,omitempty"`
	Agent    string    `json:"agent,omitempty"`
	Action   string    `json:"action,omitempty"`
	NodeSet  string    `json:"node_set,omitempty"`
	Broker   string    `json:"broker,omitempty"`
	// Connection is what happened to the connection to Broker
	// (fleet.BrokerEventKind).
	Connection string   `json:"connection,omitempty"`
	Node       string   `json:"node,omitempty"`
	Nodes      []string `json:"nodes,omitempty"`
	// Missing are those of a node set's Nodes that left the registry
	// without stopping, each "identity (missing since RFC3339 time)":
	// targeted anyway (MissingFinder).
	Missing []string     `json:"missing,omitempty"`
	Status  fleet.Status `json:"status,omitempty"`
	OK      bool         `json:"ok,omitempty"`
	Outcome Outcome      `json:"outcome,omitempty"`
	Message string       `json:"message,omitempty"`
	Attempt int          `json:"attempt,omitempty"`
	// Batch is the rollout batch (1-based) a member's event belongs to.
	Batch     int           `json:"batch,omitempty"`
	AnyOne    bool          `json:"any_one,omitempty"`
	BatchSize int           `json:"batch_size,omitempty"`
	FailOK    bool          `json:"fail_ok,omitempty"`
	NoOp      bool          `json:"noop,omitempty"`
	Resources int           `json:"resources,omitempty"`
	Changed   int           `json:"changed,omitempty"`
	Unchanged int           `json:"unchanged,omitempty"`
	Failed    int           `json:"failed,omitempty"`
	NoAnswer  int           `json:"no_answer,omitempty"`
	Summary   string        `json:"summary,omitempty"`
	Elapsed   time.Duration `json:"elapsed_ns,omitempty"`
}
