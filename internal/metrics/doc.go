// Package metrics serves Prometheus metrics for the orch agent and broker,
// each from a registry of its own (never the client library's global
// default one): the agent's requests, latencies, rejections, provider
// errors and registry heartbeats (Agent, which implements node.Metrics),
// the embedded broker's nats-server statistics read on every scrape
// (NewBroker), and the process and Go runtime collectors for both.
// docs/operations.md lists every metric.
//
//	m := metrics.NewAgent(version)
//	ep, err := metrics.Listen("127.0.0.1:9464", m.Registry(), log)
//	n, diags := node.New(cfg, node.Options{Metrics: m, ...})
//	defer ep.Close(context.Background())
package metrics
