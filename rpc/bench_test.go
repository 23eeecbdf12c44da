package rpc_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/rpc"
)

// benchConns is how many NATS connections the in-process nodes share.
const benchConns = 8

// startBenchFleet starts n in-process nodes serving echo, registered.
func startBenchFleet(b *testing.B, s *server.Server, n int) []string {
	conns := make([]*nats.Conn, benchConns)
	for i := range conns {
		nc, err := nats.Connect(natstest.URL(s))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		conns[i] = nc
	}
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("node%04d", i)
		ids[i] = id
		key, pub := nodeKey(b)
		info := fleet.NodeInfo{Identity: id, Collective: rpc.DefaultCollective, PublicKey: pub, Facts: map[string]any{"cluster": strconv.Itoa(i % 2)}, Agents: map[string]string{"echo": "1"}}
		srv, err := rpc.NewServer(conns[i%benchConns], rpc.ServerOptions{Identity: id, Key: key, Info: func() fleet.NodeInfo { return info }, Handlers: map[string]rpc.Handler{"echo": echo{id}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := rpc.Register(context.Background(), conns[i%benchConns], info, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkCall measures a signed echo.say call to N nodes (every node
// verifies the signature, checks, validates and answers) beside the raw
// floor: the same N subscribers answering unsigned bytes, pipelined onto one
// inbox.
func BenchmarkCall(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		s := natstest.Start(b)
		ids := startBenchFleet(b, s, n)
		c, _ := newClient(b, s)
		b.Run(fmt.Sprintf("orch/N=%d", n), func(b *testing.B) {
			for b.Loop() {
				res, err := c.Call(context.Background(), fleet.CallRequest{Agent: "echo", Action: "say", Input: map[string]any{"text": "x"}, Targets: ids, Timeout: 10 * time.Second})
				if err != nil || len(res.Replies) != n {
					b.Fatalf("%v: %d replies, missing %d", err, len(res.Replies), len(res.Missing))
				}
			}
		})
		b.Run(fmt.Sprintf("raw/N=%d", n), func(b *testing.B) {
			rawFloor(b, s, n)
		})
	}
}

// rawFloor is a plain nats.go scatter-gather: n subscribers answer a fixed
// reply; the client publishes to each and collects on one inbox.
func rawFloor(b *testing.B, s *server.Server, n int) {
	conns := make([]*nats.Conn, benchConns)
	for i := range conns {
		nc, err := nats.Connect(natstest.URL(s))
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
	}
	reply := []byte(`{"v":1,"status":"ok","data":{"out":"x"}}`)
	subjects := make([]string, n)
	for i := range n {
		subjects[i] = fmt.Sprintf("raw.node%04d", i)
		if _, err := conns[i%benchConns].Subscribe(subjects[i], func(m *nats.Msg) { _ = m.Respond(reply) }); err != nil {
			b.Fatal(err)
		}
	}
	for _, nc := range conns {
		_ = nc.Flush()
	}
	cl, err := nats.Connect(natstest.URL(s))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	payload := []byte(`{"agent":"echo","action":"say","data":{"text":"x"}}`)
	for b.Loop() {
		inbox := nats.NewInbox()
		ch := make(chan *nats.Msg, n)
		sub, _ := cl.ChanSubscribe(inbox, ch)
		for _, subj := range subjects {
			_ = cl.PublishRequest(subj, inbox, payload)
		}
		for range n {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				b.Fatal("raw floor timed out")
			}
		}
		_ = sub.Unsubscribe()
	}
}

// BenchmarkDiscoverRegistry measures discovery of N nodes from the registry.
func BenchmarkDiscoverRegistry(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		s := natstest.Start(b)
		startBenchFleet(b, s, n)
		c, _ := newClient(b, s)
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			for b.Loop() {
				nodes, err := c.Discover(context.Background(), fleet.Filter{}, rpc.DiscoverOptions{Method: rpc.DiscoverRegistry})
				if err != nil || len(nodes) != n {
					b.Fatalf("%v: %d nodes", err, len(nodes))
				}
			}
		})
	}
}
