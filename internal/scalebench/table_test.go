package scalebench_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/emulator"
	"github.com/orch-fleet/orch/internal/natstest"
	"github.com/orch-fleet/orch/internal/scalebench"
	"github.com/orch-fleet/orch/rpc"
)

// row is one line of the table.
type row struct {
	what, n       string
	orch, floor   time.Duration // 0: not measured
	target, notes string
}

// BenchmarkTable measures everything of the table once and prints it
// (make bench). Each figure is the median of a few rounds.
func BenchmarkTable(b *testing.B) {
	var rows []row
	for b.Loop() {
		rows = rows[:0]
		for _, n := range []int{10, 100, 1000, 10000, 50000} {
			rows = append(rows, fleetRows(b, n)...)
		}
		rows = append(rows, engineRows(b)...)
	}
	printTable(rows)
}

// env is a broker, an emulated fleet and a client.
type env struct {
	s       *server.Server
	conns   []*nats.Conn
	cl      *rpc.Client
	ids     []string
	perNode float64 // heap bytes per emulated node
}

func start(b *testing.B, n int) *env {
	e := &env{s: natstest.Start(b)}
	for range 4 {
		nc, err := nats.Connect(natstest.URL(e.s))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		e.conns = append(e.conns, nc)
	}
	key, _ := nkeys.CreateUser()
	pub, _ := key.PublicKey()
	before := heap()
	f, err := emulator.Start(context.Background(), e.conns, emulator.Options{Count: n, RegistryTTL: time.Hour, Trust: []string{pub},
		Facts: []emulator.Fact{{Name: "cluster", Values: []string{"alfa", "bravo"}},
			{Name: "role", Values: []string{"lb", "web", "web", "web", "web", "web", "web", "web", "web", "web"}}}})
	if err != nil {
		b.Fatal(err)
	}
	e.perNode = float64(heap()-before) / float64(n)
	b.Cleanup(func() { _ = f.Stop(context.Background()) })
	e.ids = f.Identities()
	nc, err := nats.Connect(natstest.URL(e.s))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	e.cl = rpc.NewClient(nc, key, rpc.ClientOptions{Name: "bench"})
	return e
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// median runs fn rounds times (after one warm-up) and returns the median.
func median(b *testing.B, rounds int, fn func() error) time.Duration {
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for range rounds {
		t := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func rounds(n int) int {
	switch {
	case n >= 50000:
		return 2
	case n >= 10000:
		return 3
	}
	return 7
}

// fleetRows measures ping, discovery and the apply on n emulated nodes.
func fleetRows(b *testing.B, n int) []row {
	e := start(b, n)
	ctx := context.Background()
	k := rounds(n)
	var floor *scalebench.Floor
	if n <= 10000 {
		nc, err := nats.Connect(natstest.URL(e.s))
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		if floor, err = scalebench.NewFloor(e.conns, nc, n); err != nil {
			b.Fatal(err)
		}
		defer floor.Close()
	}
	ns := fmt.Sprint(n)
	ping := row{what: "ping all", n: ns, orch: median(b, k, func() error {
		res, err := e.cl.Call(ctx, fleet.CallRequest{Agent: "rpcutil", Action: "ping", Targets: e.ids, Timeout: 60 * time.Second})
		if err == nil && (len(res.Replies) != n || len(res.Missing) > 0) {
			err = fmt.Errorf("ping: %d replies, %d missing", len(res.Replies), len(res.Missing))
		}
		return err
	})}
	discover := func(o rpc.DiscoverOptions) func() error {
		return func() error {
			nodes, err := e.cl.Discover(ctx, fleet.Filter{}, o)
			if err == nil && len(nodes) != n {
				err = fmt.Errorf("%s discovery: %d of %d", o.Method, len(nodes), n)
			}
			return err
		}
	}
	reg := row{what: "registry discovery (fresh read)", n: ns, orch: median(b, k, discover(rpc.DiscoverOptions{Method: rpc.DiscoverRegistry, Timeout: 30 * time.Second}))}
	found := n
	bc := row{what: "broadcast discovery", n: ns, orch: median(b, k, func() error {
		nodes, err := e.cl.Discover(ctx, fleet.Filter{}, rpc.DiscoverOptions{Method: rpc.DiscoverBroadcast, Timeout: 30 * time.Second})
		found = min(found, len(nodes))
		return err
	})}
	bc.notes = fmt.Sprintf("ends 100 ms after the last reply, 300 ms at the least; fewest found: %d of %d", found, n)
	if floor != nil {
		ping.floor = median(b, k, floor.Ping)
		bc.floor = median(b, k, floor.Broadcast)
		reg.floor = median(b, k, func() error {
			return scalebench.ReadBucket(ctx, e.cl.Conn(), rpc.RegistryBucket(rpc.DefaultCollective), n)
		})
	}
	stop, err := e.cl.WatchRegistry(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	watched := row{what: "registry discovery (watched copy)", n: ns, floor: reg.floor,
		orch: median(b, k, discover(rpc.DiscoverOptions{Method: rpc.DiscoverRegistry, Timeout: 30 * time.Second}))}
	rows := []row{ping, reg, watched, bc}
	if n <= 10000 {
		rows = append(rows, applyRow(b, e, n))
	}
	rows = append(rows, row{what: "heap per emulated node", n: ns, notes: fmt.Sprintf("%.1f KB", e.perNode/1024)})
	setTargets(rows, n)
	return rows
}

// setTargets writes the targets beside the figures they apply to.
func setTargets(rows []row, n int) {
	targets := map[[2]string]string{
		{"ping all", "10000"}: "< 1 s", {"ping all", "50000"}: "< 5 s",
		{"registry discovery (fresh read)", "1000"}: "< 10 ms", {"registry discovery (watched copy)", "1000"}: "< 10 ms",
		{"registry discovery (fresh read)", "10000"}: "< 50 ms", {"registry discovery (watched copy)", "10000"}: "< 50 ms",
		{"registry discovery (fresh read)", "50000"}: "< 100 ms", {"registry discovery (watched copy)", "50000"}: "< 100 ms",
		{"8-step apply, batches of 10 %", "10000"}: "< 10 s",
	}
	for i := range rows {
		rows[i].target = targets[[2]string{rows[i].what, fmt.Sprint(n)}]
	}
}

func printTable(rows []row) {
	w := os.Stdout
	fmt.Fprintf(w, "\nmachine: %s/%s, %d CPUs (GOMAXPROCS %d), %s; broker, nodes and client in one process\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintln(w, "| what | N | orch | floor | ratio | target | notes |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- | --- |")
	for _, r := range rows {
		o, f, ratio := "", "–", "–"
		if r.orch > 0 {
			o = fmtDur(r.orch)
		}
		if r.floor > 0 {
			f = fmtDur(r.floor)
			ratio = fmt.Sprintf("%.1f×", float64(r.orch)/float64(r.floor))
		}
		if r.orch == 0 {
			f, ratio = "", ""
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.what, r.n, o, f, ratio, r.target, r.notes)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}
