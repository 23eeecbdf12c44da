package sysfacts

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func TestCollectorFixtures(t *testing.T) {
	lo := Interface{Name: "lo", Up: true, Loopback: true, Addrs: addrs("127.0.0.1", "::1")}
	tests := map[string]struct {
		root   string
		ifaces []Interface
		cname  string
		want   map[string]any
	}{
		"debian 12, default route on eth0": {
			root: "testdata/debian12",
			ifaces: []Interface{lo,
				{Name: "eth1", Up: true, MAC: "02:00:00:00:00:02", Addrs: addrs("192.168.1.5")},
				{Name: "eth0", Up: true, MAC: "02:00:00:00:00:01", Addrs: addrs("fe80::1", "192.0.2.10", "2001:db8::10")},
			},
			cname: "web1.example.com.",
			want: map[string]any{
				"os": map[string]any{"name": "debian", "family": "debian", "release": "12", "release_major": "12",
					"codename": "bookworm", "pretty_name": "Debian GNU/Linux 12 (bookworm)", "arch": "amd64"},
				"kernel": map[string]any{"name": "Linux", "release": "6.1.0-18-amd64",
					"version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", "machine": "x86_64"},
				"cpu":    map[string]any{"count": 2.0, "model": "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"},
				"memory": map[string]any{"total_mb": 7940.0, "swap_total_mb": 1023.0},
				"networking": map[string]any{"hostname": "web1", "fqdn": "web1.example.com", "domain": "example.com",
					"primary": "eth0", "mac": "02:00:00:00:00:01", "ip": "192.0.2.10", "ip6": "2001:db8::10"},
				"system": map[string]any{"boot_time": "2023-11-14T22:13:20Z"},
			},
		},
		"rocky 9, os-release in /usr/lib, no default route": {
			root: "testdata/rocky9",
			ifaces: []Interface{lo,
				{Name: "ens3", Up: false, Addrs: addrs("10.9.9.9")},
				{Name: "ens4", Up: true, MAC: "52:54:00:12:34:56", Addrs: addrs("fe80::5054:ff:fe12:3456", "10.0.0.5")},
			},
			want: map[string]any{
				"os": map[string]any{"name": "rocky", "id_like": "rhel centos fedora", "family": "redhat", "release": "9.3",
					"release_major": "9", "pretty_name": "Rocky Linux 9.3 (Blue Onyx)", "arch": archOf(machineOf(runtime.GOARCH))},
				"kernel": map[string]any{"name": "Linux", "release": "5.14.0-362.8.1.el9_3.aarch64",
					"version": "#1 SMP PREEMPT_DYNAMIC Wed Nov 8 17:36:32 UTC 2023", "machine": machineOf(runtime.GOARCH)},
				"cpu":    map[string]any{"count": 4.0},
				"memory": map[string]any{"total_mb": 15625.0, "swap_total_mb": 0.0},
				"networking": map[string]any{"hostname": "db1", "fqdn": "db1.example.net", "domain": "example.net",
					"primary": "ens4", "mac": "52:54:00:12:34:56", "ip": "10.0.0.5"},
				"system": map[string]any{"boot_time": "2024-03-09T16:00:00Z"},
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := Collector{
				Root:       tt.root,
				Interfaces: func() ([]Interface, error) { return tt.ifaces, nil },
				LookupCNAME: func(context.Context, string) (string, error) {
					if tt.cname == "" {
						return "", errors.New("no such host")
					}
					return tt.cname, nil
				},
			}
			got, err := c.Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("facts (-want +got):\n%s", d)
			}
		})
	}
}

// TestCollectorMissing: an empty root yields what does not need files and
// an error naming each part that could not be read.
func TestCollectorMissing(t *testing.T) {
	c := Collector{Root: "testdata/empty", Interfaces: func() ([]Interface, error) { return nil, nil }}
	got, err := c.Collect(context.Background())
	if err == nil {
		t.Fatal("no error for an empty root")
	}
	want := map[string]any{"os": map[string]any{"arch": archOf(machineOf(runtime.GOARCH))}, "kernel": map[string]any{"machine": machineOf(runtime.GOARCH)}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("facts (-want +got):\n%s", d)
	}
}

// TestFQDNTimeout: a lookup that hangs costs FQDNTimeout, then the host
// name stands in.
func TestFQDNTimeout(t *testing.T) {
	c := Collector{FQDNTimeout: 50 * time.Millisecond, LookupCNAME: func(ctx context.Context, _ string) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}}
	start := time.Now()
	if got := c.fqdn(context.Background(), "web1"); got != "web1" {
		t.Errorf("fqdn = %q, want web1", got)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("fqdn took %s", el)
	}
}

// TestCollectorThisMachine reads the machine the test runs on: the facts
// every Linux has are there.
func TestCollectorThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	got, err := Collector{}.Collect(context.Background())
	if err != nil {
		t.Logf("partial: %v", err)
	}
	t.Logf("%v", got)
	for _, name := range []string{"kernel.release", "cpu.count", "memory.total_mb", "networking.hostname", "system.boot_time", "os.arch"} {
		if _, ok := lookup(got, name); !ok {
			t.Errorf("no fact %s", name)
		}
	}
}

func lookup(m map[string]any, name string) (any, bool) {
	var cur any = m
	for part := range strings.SplitSeq(name, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestFamilyOf(t *testing.T) {
	tests := map[string]struct {
		id, like, want string
	}{
		"debian":   {"debian", "", "debian"},
		"ubuntu":   {"ubuntu", "debian", "debian"},
		"rhel":     {"rhel", "fedora", "redhat"},
		"alma":     {"almalinux", "rhel centos fedora", "redhat"},
		"opensuse": {"opensuse-leap", "suse opensuse", "suse"},
		"unknown":  {"nixos", "", "nixos"},
		"via like": {"pop", "ubuntu debian", "debian"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := familyOf(tt.id, strings.Fields(tt.like)); got != tt.want {
				t.Errorf("familyOf(%q, %q) = %q, want %q", tt.id, tt.like, got, tt.want)
			}
		})
	}
}
