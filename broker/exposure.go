package broker

import (
	"fmt"
	"net"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrUnauthenticated is wrapped by Start's error when the broker would
// listen beyond loopback without authentication.
var ErrUnauthenticated = fmt.Errorf("refusing to listen beyond loopback without authentication")

// InsecureWarning is the warning of a broker started with Insecure on a
// non-loopback address without authentication.
func InsecureWarning(host string) string {
	return fmt.Sprintf("INSECURE: listening on %s without authentication: anyone who can reach this port can read every request and reply, forge replies, and take or delete run locks and registry entries; use it only in a lab (orch broker gen-auth writes an authenticated configuration)", host)
}

// checkExposure refuses a client listener beyond loopback that anybody can
// connect to, unless insecure.
func checkExposure(opts *server.Options, insecure bool) error {
	if insecure || isLoopback(opts.Host) || authenticates(opts) {
		return nil
	}
	why := "no users, nkeys, operator or verified client certificates are configured"
	if opts.NoAuthUser != "" {
		why = fmt.Sprintf("no_auth_user %q lets clients in without credentials", opts.NoAuthUser)
	}
	return fmt.Errorf("%w on %s: %s; give the broker a configuration that authenticates clients (--config FILE, e.g. written by orch broker gen-auth), listen on 127.0.0.1, or pass --insecure for a lab", ErrUnauthenticated, hostOrAll(opts.Host), why)
}

// authenticates reports whether every client connection to a server with
// opts must present credentials.
func authenticates(opts *server.Options) bool {
	if opts.NoAuthUser != "" {
		return false
	}
	return len(opts.Nkeys) > 0 || len(opts.Users) > 0 || opts.Username != "" || opts.Authorization != "" ||
		len(opts.TrustedOperators) > 0 || len(opts.TrustedKeys) > 0 || opts.AuthCallout != nil ||
		(opts.TLSVerify && opts.TLSConfig != nil)
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hostOrAll(host string) string {
	if host == "" {
		return "every address"
	}
	return host
}
