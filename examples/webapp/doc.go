// Package webapp is the webapp scenario of the design: deploy.hcl and its
// rotation module (the playbook), deploy.go (the same upgrade written with
// orch's Go SDK; go run examples/webapp/deploy.go), and scenario_test.go,
// which runs both on the demo fleet (internal/demofleet, started by
// orch demo) with a real HAProxy.
package webapp
