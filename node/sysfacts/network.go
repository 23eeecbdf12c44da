package sysfacts

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Interface is a network interface as networking facts need it.
type Interface struct {
	Name     string
	MAC      string
	Up       bool
	Loopback bool
	Addrs    []netip.Addr
}

// networkingFacts reads the host name, resolves the FQDN, and picks the
// primary interface: the one of the default route (lowest metric) in
// /proc/net/route, else the first interface that is up, not loopback and
// has an IPv4 address. No packet is sent, except the name lookup behind
// fqdn when /etc/hosts does not answer.
func (c Collector) networkingFacts(ctx context.Context) (map[string]any, error) {
	m := map[string]any{}
	var errs []error
	host, err := c.readLine("/proc/sys/kernel/hostname")
	if err != nil {
		errs = append(errs, err)
	} else {
		short, _, _ := strings.Cut(host, ".")
		fqdn := c.fqdn(ctx, host)
		m["hostname"], m["fqdn"] = short, fqdn
		if _, domain, ok := strings.Cut(fqdn, "."); ok {
			m["domain"] = domain
		}
	}
	list := c.Interfaces
	if list == nil {
		list = systemInterfaces
	}
	ifaces, err := list()
	if err != nil {
		return m, errors.Join(append(errs, err)...)
	}
	v4 := c.defaultRouteInterface("/proc/net/route", parseRoute4)
	v6 := c.defaultRouteInterface("/proc/net/ipv6_route", parseRoute6)
	primary := findInterface(ifaces, v4, func(a netip.Addr) bool { return a.Is4() })
	if primary != nil {
		m["primary"] = primary.Name
		if primary.MAC != "" {
			m["mac"] = primary.MAC
		}
		if ip, ok := firstAddr(primary, func(a netip.Addr) bool { return a.Is4() }); ok {
			m["ip"] = ip.String()
		}
	}
	if v6 == "" && primary != nil {
		v6 = primary.Name
	}
	is6 := func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }
	if i6 := findInterface(ifaces, v6, is6); i6 != nil {
		if ip, ok := firstAddr(i6, is6); ok {
			m["ip6"] = ip.String()
		}
	}
	return m, errors.Join(errs...)
}

// fqdn is the host name if it has a dot, else its canonical name when
// that has one, else the host name.
func (c Collector) fqdn(ctx context.Context, host string) string {
	if strings.Contains(host, ".") {
		return host
	}
	lookup := c.LookupCNAME
	if lookup == nil {
		lookup = net.DefaultResolver.LookupCNAME
	}
	timeout := c.FQDNTimeout
	if timeout <= 0 {
		timeout = DefaultFQDNTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name, err := lookup(ctx, host)
	name = strings.TrimSuffix(name, ".")
	if err != nil || !strings.Contains(name, ".") {
		return host
	}
	return name
}

// defaultRouteInterface returns the interface of the default route of
// lowest metric in a route table of /proc/net, "" when there is none.
func (c Collector) defaultRouteInterface(file string, parse func(fields []string) (iface string, metric uint64, ok bool)) string {
	b, err := c.read(file)
	if err != nil {
		return ""
	}
	best, bestMetric := "", uint64(0)
	for _, line := range strings.Split(string(b), "\n") {
		iface, metric, ok := parse(strings.Fields(line))
		if ok && iface != "lo" && (best == "" || metric < bestMetric) {
			best, bestMetric = iface, metric
		}
	}
	return best
}

// rtfUp is RTF_UP of a route's flags.
const rtfUp = 0x1

// parseRoute4 reads a line of /proc/net/route: Iface Destination Gateway
// Flags RefCnt Use Metric Mask …, in hex; a default route has destination
// and mask 0.
func parseRoute4(f []string) (string, uint64, bool) {
	if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
		return "", 0, false
	}
	flags, err1 := strconv.ParseUint(f[3], 16, 32)
	metric, err2 := strconv.ParseUint(f[6], 10, 64)
	if err1 != nil || err2 != nil || flags&rtfUp == 0 {
		return "", 0, false
	}
	return f[0], metric, true
}

// parseRoute6 reads a line of /proc/net/ipv6_route: destination, prefix
// length, source, source length, next hop, metric, refcnt, use, flags,
// interface, in hex; a default route has destination ::/0.
func parseRoute6(f []string) (string, uint64, bool) {
	if len(f) < 10 || strings.Trim(f[0], "0") != "" || f[1] != "00" {
		return "", 0, false
	}
	metric, err1 := strconv.ParseUint(f[5], 16, 64)
	flags, err2 := strconv.ParseUint(f[8], 16, 32)
	if err1 != nil || err2 != nil || flags&rtfUp == 0 {
		return "", 0, false
	}
	return f[9], metric, true
}

// findInterface returns the interface named name, or, when name is ""
// or absent, the first interface that is up, not loopback and has an
// address that want accepts.
func findInterface(ifaces []Interface, name string, want func(netip.Addr) bool) *Interface {
	for i := range ifaces {
		if name != "" && ifaces[i].Name == name {
			return &ifaces[i]
		}
	}
	for i := range ifaces {
		if _, ok := firstAddr(&ifaces[i], want); ok && ifaces[i].Up && !ifaces[i].Loopback {
			return &ifaces[i]
		}
	}
	return nil
}

// firstAddr returns the first address of an interface that want accepts
// and that is usable from elsewhere: not loopback, link-local or
// unspecified.
func firstAddr(i *Interface, want func(netip.Addr) bool) (netip.Addr, bool) {
	for _, a := range i.Addrs {
		if want(a) && a.IsGlobalUnicast() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// systemInterfaces lists the interfaces of this machine.
func systemInterfaces() ([]Interface, error) {
	list, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(list))
	for _, ni := range list {
		i := Interface{Name: ni.Name, MAC: ni.HardwareAddr.String(), Up: ni.Flags&net.FlagUp != 0, Loopback: ni.Flags&net.FlagLoopback != 0}
		addrs, err := ni.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				i.Addrs = append(i.Addrs, p.Addr().Unmap())
			}
		}
		out = append(out, i)
	}
	return out, nil
}
