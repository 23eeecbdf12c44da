package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/node"
	"github.com/orch-fleet/orch/rpc"
)

// OtherLabel is the agent and action label of requests for something the
// node does not serve (rpc.RequestStats leaves those names out).
const OtherLabel = "_other"

// DurationBuckets are the request latency histogram's upper bounds in
// seconds: from a ping (about a millisecond) to a package install or a
// deploy (minutes).
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Agent holds a node's metrics in a registry of its own. It implements
// node.Metrics; its methods are safe for concurrent use.
type Agent struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	rejections *prometheus.CounterVec
	provErrors *prometheus.CounterVec
	panics     *prometheus.CounterVec
	heartbeats *prometheus.CounterVec
	lastBeat   prometheus.Gauge
}

// NewAgent returns an agent's metrics, with the process and Go runtime
// collectors and orch_agent_build_info carrying version.
func NewAgent(version string) *Agent {
	a := &Agent{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_agent_requests_total",
			Help: "Requests answered, by agent, action and reply status."}, []string{"agent", "action", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orch_agent_request_duration_seconds",
			Help: "Time from receiving a request to answering it, by agent and action.", Buckets: DurationBuckets},
			[]string{"agent", "action"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_agent_rejections_total",
			Help: "Requests refused (unauthorised, unknown agent or action, missing or invalid input), by reason: the reply status."},
			[]string{"reason"}),
		provErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_agent_provider_errors_total",
			Help: "Provider calls that did not succeed (panics included), by agent, action and status."}, []string{"agent", "action", "status"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_agent_provider_panics_total",
			Help: "Provider calls that panicked (a bug in the provider), by agent and action."}, []string{"agent", "action"}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_agent_registry_heartbeats_total",
			Help: "Registrations in the fleet registry, by result: ok or error."}, []string{"result"}),
		lastBeat: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orch_agent_registry_last_heartbeat_timestamp_seconds",
			Help: "When the last successful registration happened, in Unix seconds; 0 before the first."}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "orch_agent_build_info",
		Help: "Always 1; the version label is the orch version the agent runs.", ConstLabels: prometheus.Labels{"version": version}})
	build.Set(1)
	for _, res := range []string{"ok", "error"} {
		a.heartbeats.WithLabelValues(res) // both series exist from the start, at 0
	}
	a.reg.MustRegister(a.requests, a.duration, a.rejections, a.provErrors, a.panics, a.heartbeats, a.lastBeat, build,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return a
}

// Registry is what the endpoint serves (Listen).
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Request counts an answered request.
func (a *Agent) Request(s rpc.RequestStats) {
	agent, action := labelOr(s.Agent), labelOr(s.Action)
	a.requests.WithLabelValues(agent, action, string(s.Status)).Inc()
	a.duration.WithLabelValues(agent, action).Observe(s.Elapsed.Seconds())
	if Rejected(s.Status) {
		a.rejections.WithLabelValues(string(s.Status)).Inc()
	}
}

// Provider counts a provider call that failed or panicked.
func (a *Agent) Provider(s rpc.ProviderStats) {
	if s.Status != fleet.StatusOK {
		a.provErrors.WithLabelValues(s.Agent, s.Action, string(s.Status)).Inc()
	}
	if s.Panicked {
		a.panics.WithLabelValues(s.Agent, s.Action).Inc()
	}
}

// Heartbeat counts a registration.
func (a *Agent) Heartbeat(err error) {
	if err != nil {
		a.heartbeats.WithLabelValues("error").Inc()
		return
	}
	a.heartbeats.WithLabelValues("ok").Inc()
	a.lastBeat.Set(float64(time.Now().UnixNano()) / 1e9)
}

// Rejected reports whether a reply status means the node refused the
// request rather than ran it: unauthorised, unknown_agent,
// unknown_action, missing_input or invalid_input (the schema's checks or
// the provider's own).
func Rejected(s fleet.Status) bool {
	switch s {
	case fleet.StatusUnauthorised, fleet.StatusUnknownAgent, fleet.StatusUnknownAction,
		fleet.StatusMissingInput, fleet.StatusInvalidInput:
		return true
	}
	return false
}

func labelOr(v string) string {
	if v == "" {
		return OtherLabel
	}
	return v
}

var _ node.Metrics = (*Agent)(nil)
