package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair without a dependency: the master
// from /dev/ptmx, unlocked, and its slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// On a terminal, apply draws a live view (redrawn with ANSI escapes) and
// prints finished resources without timestamps; elsewhere it prints
// timestamped lines.
func TestLiveViewOnATerminal(t *testing.T) {
	f, pb, _ := applyFleet(t)
	master, slave := openPTY(t)
	var screen bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&screen, master); close(copied) }()
	var errb bytes.Buffer
	e := f.env(nil, &errb, nil)
	e.stdout = slave
	e.getenv = func(k string) string {
		if k == "TERM" {
			return "xterm"
		}
		return f.env(nil, nil, nil).getenv(k)
	}
	// The slow check keeps a resource running long enough to be drawn.
	code := run(t.Context(), e, []string{"apply", pb, "-var", "cluster=bravo", "-var", "slow=true"})
	slave.Close()
	<-copied
	out := screen.String()
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb.String())
	}
	for _, want := range []string{
		"\x1b[1A\x1b[J", // the live block is erased and redrawn
		"... nrpe_check.state nrpe.run: 0/1 node(s)", // a running resource with done/total
		"nrpe_check.state: ok in",                    // finished resources stay on screen
		"OK: 3 resource(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if regexp.MustCompile(`\d\d:\d\d:\d\d\.\d{3} `).MatchString(out) {
		t.Errorf("timestamps on a terminal:\n%q", out)
	}
}
