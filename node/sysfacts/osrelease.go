package sysfacts

import (
	"context"
	"strconv"
	"strings"
)

// osFacts reads /etc/os-release (or /usr/lib/os-release, its fallback as
// os-release(5) says).
func (c Collector) osFacts(context.Context) (map[string]any, error) {
	b, err := c.read("/etc/os-release")
	if err != nil {
		var err2 error
		if b, err2 = c.read("/usr/lib/os-release"); err2 != nil {
			return map[string]any{"arch": archOf(c.machine())}, err
		}
	}
	rel := parseOSRelease(string(b))
	m := map[string]any{"arch": archOf(c.machine())}
	for fact, key := range map[string]string{
		"name": "ID", "id_like": "ID_LIKE", "release": "VERSION_ID",
		"codename": "VERSION_CODENAME", "pretty_name": "PRETTY_NAME",
	} {
		if v := rel[key]; v != "" {
			m[fact] = v
		}
	}
	if id := rel["ID"]; id != "" {
		m["family"] = familyOf(id, strings.Fields(rel["ID_LIKE"]))
	}
	if v := rel["VERSION_ID"]; v != "" {
		m["release_major"] = strings.SplitN(v, ".", 2)[0]
	}
	return m, nil
}

// parseOSRelease reads os-release(5) assignments: KEY=value, the value
// optionally in single or double quotes, with backslash escapes.
func parseOSRelease(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			if v[0] == '"' {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				} else {
					v = v[1 : len(v)-1]
				}
			} else {
				v = v[1 : len(v)-1]
			}
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// familyOf names the distribution family of an os-release ID, looking at
// ID first, then at ID_LIKE in order: debian (Debian, Ubuntu, …), redhat
// (RHEL, CentOS, Fedora, Rocky, Alma, …), suse, arch, alpine or gentoo.
// An ID of no known family is its own family.
func familyOf(id string, like []string) string {
	for _, name := range append([]string{id}, like...) {
		switch name {
		case "debian", "ubuntu", "raspbian", "linuxmint", "devuan", "kali":
			return "debian"
		case "rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "scientific":
			return "redhat"
		case "suse", "sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed":
			return "suse"
		case "arch", "archarm", "manjaro":
			return "arch"
		case "alpine", "gentoo":
			return name
		}
	}
	return id
}
