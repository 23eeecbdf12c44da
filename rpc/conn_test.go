package rpc

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"nats://127.0.0.1:4222":            "nats://127.0.0.1:4222",
		"nats://alice:s3cret@host:4222":    "nats://***@host:4222",
		"tls://t0ken@host:4222":            "tls://***@host:4222",
		"nats://a:p%40ss@host:4222":        "nats://***@host:4222",
		"alice:s3cret@host:4222":           "***@host:4222",
		"nats://al ice:s3 cret@host:4222/": "nats://***@host:4222/",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConnectErrorRedacts: an error from below that quotes the URL or the
// password shows neither, and still unwraps.
func TestConnectErrorRedacts(t *testing.T) {
	servers := []string{"nats://alice:pa%24%24word@h:1", "nats://T0KENVALUE@h:2"}
	inner := errors.Join(nats.ErrAuthorization, errors.New("parsing nats://alice:pa%24%24word@h:1: pa$$word T0KENVALUE"))
	err := connectError(servers, inner)
	for _, secret := range []string{"pa%24%24word", "pa$$word", "T0KENVALUE"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q shows %q", err, secret)
		}
	}
	if !errors.Is(err, nats.ErrAuthorization) || !strings.Contains(err.Error(), "broker_nkey_file") {
		t.Errorf("%q: want it to wrap ErrAuthorization and name broker_nkey_file", err)
	}
}
