// Package scalebench measures orch at fleet scale beside a raw nats.go
// floor and prints one table (make bench):
//
//	go test ./internal/scalebench -run '^$' -bench Table -benchtime 1x
//
// Nodes are emulated (internal/emulator) on an embedded broker, all in one
// process; the floor is plain nats.go subscribers answering fixed bytes.
package scalebench
