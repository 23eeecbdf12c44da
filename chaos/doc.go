// Package chaos is orch's chaos suite: a three-broker cluster of real
// `orch broker` processes and about twenty real `orch agent` processes on
// loopback, with faults injected while real `orch apply` runs go on (an
// agent killed or stopped mid-batch, each broker killed and restarted in
// turn, a node partitioned, registrations churning, two runs racing for
// one lock and a lock holder dying, a notifier failing over), and the
// run's exit code, named nodes, lock and notifications checked after each.
//
// The suite is behind the build tag chaos, so that go test ./... stays
// fast; make chaos runs it:
//
//	go test -tags chaos -count=1 -v ./chaos
//	CHAOS_AGENTS=30 CHAOS_ROUNDS=3 make chaos
//
// docs/reliability.md describes each fault and what it asserts, with the
// table of a run.
package chaos
