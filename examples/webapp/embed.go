// Package webapp holds the webapp scenario of the design: deploy.hcl and its
// rotation module (embedded here so that `orch demo` can write them next to
// the fleet it starts), the Go SDK version in deploy.go, and in fleet/ the
// demo fleet itself.
package webapp

import "embed"

// Playbook holds deploy.hcl and modules/.
//
//go:embed deploy.hcl modules
var Playbook embed.FS
