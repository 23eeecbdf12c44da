package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nkeys"
)

// runKeygen is `orch keygen --out FILE`: a new nkey user seed, public key printed.
func runKeygen(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("keygen", e.stderr)
	out := fs.String("out", "", "seed `file` to write (mode 0600); required")
	force := fs.Bool("force", false, "overwrite an existing file")
	if _, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	}
	if *out == "" {
		fmt.Fprintln(e.stderr, "orch keygen: --out FILE is required")
		return exitInvalid
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		fmt.Fprintf(e.stderr, "orch keygen: %v\n", err)
		return exitFailed
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		fmt.Fprintf(e.stderr, "orch keygen: %s exists; use --force to overwrite\n", *out)
		return exitInvalid
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "orch keygen: %v\n", err)
		return exitFailed
	}
	_, werr := fmt.Fprintf(f, "# orch nkey seed; public key %s\n%s\n", pub, seed)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		fmt.Fprintf(e.stderr, "orch keygen: writing %s: %v\n", *out, werr)
		return exitFailed
	}
	fmt.Fprintln(e.stdout, pub)
	return exitOK
}
