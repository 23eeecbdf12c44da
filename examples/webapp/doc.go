// Package webapp is the webapp scenario of the design: deploy.hcl and its
// upgrade module (the rolling form: a canary, growing batches, a failure
// budget, rollback and clean-up hooks), deploy-classic.hcl and its
// rotation module (the 2012 form: the whole cluster out at once),
// deploy.go (the classic upgrade written with orch's Go SDK; go run
// examples/webapp/deploy.go), and scenario_test.go, which runs all three on
// the demo fleet (internal/demofleet, started by orch demo) with a real
// HAProxy.
package webapp
