package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/history"
	"github.com/orch-fleet/orch/internal/webui"
	"github.com/orch-fleet/orch/rpc"
)

// runUI is `orch ui`: a read-only web view of the fleet and its runs,
// until SIGINT or SIGTERM.
func runUI(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("ui", e.stderr)
	cf := addClientFlags(fs, e, false)
	listen := fs.String("listen", "127.0.0.1:7480", "listen on `host:port` (port 0 picks a free one)")
	remote := fs.Bool("allow-remote", false, "allow a listen address beyond loopback; a random token in the printed URL is then required")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	} else if len(pos) > 0 {
		return usageErr(e, "ui", "unexpected argument %q", pos[0])
	}
	loopback, err := isLoopback(*listen)
	if err != nil {
		return usageErr(e, "ui", "--listen: %v", err)
	}
	if !loopback && !*remote {
		return usageErr(e, "ui", "--listen %s is not a loopback address: pass --allow-remote to serve it (a token is then required)", *listen)
	}
	cl, closeConn, err := cf.connect(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch ui: %v\n", err)
		if errors.Is(err, errNoKey) {
			return exitInvalid
		}
		return exitFailed
	}
	defer closeConn()
	st, err := history.Open(ctx, cl.Conn(), cl.Collective())
	if err != nil {
		fmt.Fprintf(e.stderr, "orch ui: %v\n", err)
		return exitFailed
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(e.stderr, "orch ui: %v\n", err)
		return exitFailed
	}
	o := webui.Options{Store: st, Nodes: func(ctx context.Context, f fleet.Filter) ([]fleet.NodeInfo, error) {
		return cl.Discover(ctx, f, rpc.DiscoverOptions{Method: "registry"})
	}}
	url := "http://" + ln.Addr().String() + "/"
	if !loopback {
		o.Token = randomToken()
		url += "?token=" + o.Token
	}
	fmt.Fprintf(e.stdout, "orch ui: serving %s (read only; Ctrl-C stops it)\n", url)
	return serveUntilSignal(ctx, e, ln, webui.New(o).Handler())
}

// serveUntilSignal serves until a signal or ctx ends.
func serveUntilSignal(ctx context.Context, e *env, ln net.Listener, h http.Handler) int {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case <-e.signals:
	case err := <-errc:
		fmt.Fprintf(e.stderr, "orch ui: %v\n", err)
		return exitFailed
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return exitOK
}

// isLoopback reports whether host:port listens on loopback only.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// randomToken is the token a non-loopback orch ui requires.
func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
