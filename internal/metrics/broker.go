package metrics

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewBroker returns a registry for an embedded broker: its nats-server
// statistics (read from Varz and Jsz on every scrape) and the process and
// Go runtime collectors.
func NewBroker(s *server.Server) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newBrokerCollector(s),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return reg
}

// brokerStat is one metric read from the server's statistics.
type brokerStat struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	varz  func(*server.Varz) float64   // set for a Varz statistic
	jetst func(*server.JSInfo) float64 // set for a JetStream one
}

// brokerCollector reads the statistics when scraped, so that they are
// always current and nothing polls between scrapes.
type brokerCollector struct {
	s     *server.Server
	stats []brokerStat
}

func newBrokerCollector(s *server.Server) *brokerCollector {
	v := func(name, help string, kind prometheus.ValueType, f func(*server.Varz) float64) brokerStat {
		return brokerStat{desc: prometheus.NewDesc("orch_broker_"+name, help, nil, nil), kind: kind, varz: f}
	}
	j := func(name, help string, f func(*server.JSInfo) float64) brokerStat {
		return brokerStat{desc: prometheus.NewDesc("orch_broker_jetstream_"+name, help, nil, nil), kind: prometheus.GaugeValue, jetst: f}
	}
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	return &brokerCollector{s: s, stats: []brokerStat{
		v("connections", "Client connections open now.", g, func(z *server.Varz) float64 { return float64(z.Connections) }),
		v("connections_total", "Client connections accepted since the broker started.", c, func(z *server.Varz) float64 { return float64(z.TotalConnections) }),
		v("subscriptions", "Subscriptions now.", g, func(z *server.Varz) float64 { return float64(z.Subscriptions) }),
		v("routes", "Routes to other brokers of the cluster now.", g, func(z *server.Varz) float64 { return float64(z.Routes) }),
		v("slow_consumers_total", "Clients disconnected for being slow consumers since the broker started.", c, func(z *server.Varz) float64 { return float64(z.SlowConsumers) }),
		v("in_msgs_total", "Messages received (from clients, routes and leaf nodes).", c, func(z *server.Varz) float64 { return float64(z.InMsgs) }),
		v("out_msgs_total", "Messages sent.", c, func(z *server.Varz) float64 { return float64(z.OutMsgs) }),
		v("in_bytes_total", "Message bytes received.", c, func(z *server.Varz) float64 { return float64(z.InBytes) }),
		v("out_bytes_total", "Message bytes sent.", c, func(z *server.Varz) float64 { return float64(z.OutBytes) }),
		j("memory_bytes", "JetStream memory storage in use.", func(i *server.JSInfo) float64 { return float64(i.Memory) }),
		j("storage_bytes", "JetStream file storage in use.", func(i *server.JSInfo) float64 { return float64(i.Store) }),
		j("max_memory_bytes", "JetStream memory storage limit.", func(i *server.JSInfo) float64 { return float64(i.Config.MaxMemory) }),
		j("max_storage_bytes", "JetStream file storage limit.", func(i *server.JSInfo) float64 { return float64(i.Config.MaxStore) }),
		j("streams", "JetStream streams (the registry and lock buckets among them).", func(i *server.JSInfo) float64 { return float64(i.Streams) }),
		j("consumers", "JetStream consumers.", func(i *server.JSInfo) float64 { return float64(i.Consumers) }),
		j("messages", "Messages stored in JetStream streams.", func(i *server.JSInfo) float64 { return float64(i.Messages) }),
	}}
}

// Describe sends every metric's description.
func (b *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, st := range b.stats {
		ch <- st.desc
	}
}

// Collect reads Varz and, when JetStream runs, Jsz. A statistic that
// cannot be read is reported as an invalid metric: the scrape shows the
// error instead of stale values.
func (b *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	vz, verr := b.s.Varz(nil)
	js, jerr := b.s.Jsz(nil)
	for _, st := range b.stats {
		switch {
		case st.varz != nil && verr != nil:
			ch <- prometheus.NewInvalidMetric(st.desc, verr)
		case st.varz != nil:
			ch <- prometheus.MustNewConstMetric(st.desc, st.kind, st.varz(vz))
		case jerr != nil:
			ch <- prometheus.NewInvalidMetric(st.desc, jerr)
		case js != nil && !js.Disabled:
			ch <- prometheus.MustNewConstMetric(st.desc, st.kind, st.jetst(js))
		}
	}
}

var _ prometheus.Collector = (*brokerCollector)(nil)
