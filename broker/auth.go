package broker

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

// AuthConfig is what GenerateAuth turns into a nats-server configuration:
// one nkey user per client and per node, each with the subject
// permissions of its role, and no anonymous access.
type AuthConfig struct {
	// Collective is the subject prefix; "" = rpc.DefaultCollective.
	Collective string
	// Clients are the operators and programs that call the fleet.
	Clients []AuthClient
	// Nodes are the agents, one per identity.
	Nodes []AuthNode
	// TLS, when set, adds a tls block: the broker then speaks TLS only.
	TLS *TLSFiles
	// ResponseExpiry is how long a node may take to answer a request it
	// received, in nats-server duration syntax; "" = "1h" (the longest ttl
	// a node accepts).
	ResponseExpiry string
}

// AuthClient is a client's name (a comment in the file) and nkey public
// key (U…).
type AuthClient struct {
	Name, Key string
}

// AuthNode is a node's identity, nkey public key (U…) and the agents it
// serves (which broadcast and any-one subjects it may read).
type AuthNode struct {
	Identity, Key string
	Agents        []string
}

// TLSFiles are the broker's certificate and key, and the CA that signs
// client certificates when Verify (mTLS) is set.
type TLSFiles struct {
	Cert, Key, CA string
	Verify        bool
}

// token is a valid NATS subject token (identities and agent names).
var token = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_=-]*$`)

// GenerateAuth renders a nats-server configuration for c; the broker
// loads it with Config.ConfigFile (orch broker --config) and so does any
// nats-server.
func GenerateAuth(c AuthConfig) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	col := c.collective()
	var b strings.Builder
	b.WriteString("# nats-server configuration written by orch broker gen-auth.\n")
	b.WriteString("# Every connection authenticates with an nkey; there is no anonymous user.\n")
	fmt.Fprintf(&b, "# Collective %q: %d client(s), %d node(s).\n\n", col, len(c.Clients), len(c.Nodes))
	if c.TLS != nil {
		writeTLS(&b, c.TLS)
	}
	b.WriteString("authorization {\n  users = [\n")
	for _, cl := range c.Clients {
		writeUser(&b, "client "+cl.Name, cl.Key, ClientPermissions(col), "")
	}
	for _, n := range c.Nodes {
		writeUser(&b, "node "+n.Identity, n.Key, NodePermissions(col, n.Identity, n.Agents), c.responseExpiry())
	}
	b.WriteString("  ]\n}\n")
	return []byte(b.String()), nil
}

func (c AuthConfig) collective() string {
	if c.Collective == "" {
		return rpc.DefaultCollective
	}
	return c.Collective
}

func (c AuthConfig) responseExpiry() string {
	if c.ResponseExpiry == "" {
		return "1h"
	}
	return c.ResponseExpiry
}

// check refuses what would give a broker nobody can use, or a user with
// the wrong permissions.
func (c AuthConfig) check() error {
	if !token.MatchString(c.collective()) {
		return fmt.Errorf("collective %q: want letters, digits, '-' or '_'", c.collective())
	}
	if len(c.Clients) == 0 {
		return errors.New("no client keys: the fleet could not be called (add at least one client)")
	}
	seen := map[string]string{}
	key := func(who, k string) error {
		if !nkeys.IsValidPublicUserKey(k) {
			return fmt.Errorf("%s: %q is not an nkey user public key (U…; orch keygen prints one)", who, k)
		}
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("%s has the same key as %s: each client and node needs its own", who, prev)
		}
		seen[k] = who
		return nil
	}
	for _, cl := range c.Clients {
		if err := key("client "+cl.Name, cl.Key); err != nil {
			return err
		}
	}
	ids := map[string]bool{}
	for _, n := range c.Nodes {
		if !token.MatchString(n.Identity) {
			return fmt.Errorf("node identity %q: want letters, digits, '-', '_' or '='", n.Identity)
		}
		if ids[n.Identity] {
			return fmt.Errorf("node %s is listed twice", n.Identity)
		}
		ids[n.Identity] = true
		if err := key("node "+n.Identity, n.Key); err != nil {
			return err
		}
		if len(n.Agents) == 0 {
			return fmt.Errorf("node %s serves no agents", n.Identity)
		}
		for _, a := range n.Agents {
			if !token.MatchString(a) {
				return fmt.Errorf("node %s: agent %q is not a valid name", n.Identity, a)
			}
		}
	}
	return nil
}

// Permissions are the subjects a user may publish to and subscribe to.
type Permissions struct {
	Publish, Subscribe []string
}

// ClientPermissions are a client's: publish requests (broadcast, direct,
// any-one, discovery), use JetStream (reading the registry and the
// last-seen bucket, run locks), write run locks and record runs in the
// run history (COLLECTIVE.runs.>, the subjects of the history package's
// stream); subscribe to its reply subjects.
func ClientPermissions(collective string) Permissions {
	return Permissions{
		Publish: []string{
			rpc.BroadcastSubject(collective, ">"),
			rpc.DirectSubject(collective, ">"),
			rpc.AnyOneSubject(collective, ">"),
			rpc.DiscoverSubject(collective),
			"$JS.API.>",
			"$JS.FC.>",
			kvSubject(rpc.LockBucket(collective), ">"),
			collective + ".runs.>", // the run history (package history)
		},
		Subscribe: []string{"_INBOX.>"},
	}
}

// NodePermissions are a node's: read its own direct subject, discovery,
// and the broadcast and any-one subjects of its agents, and the replies to
// its own JetStream requests; write its own registry and last-seen
// entries (and, serving angelia, the angelia delivery bucket). Replies to
// requests are allowed by allow_responses, not by a publish grant.
func NodePermissions(collective, identity string, agents []string) Permissions {
	var p Permissions
	sub := func(s ...string) { p.Subscribe = append(p.Subscribe, s...) }
	pub := func(s ...string) { p.Publish = append(p.Publish, s...) }
	sub(rpc.DirectSubject(collective, identity), rpc.DiscoverSubject(collective))
	sorted := append([]string(nil), agents...)
	sort.Strings(sorted)
	for _, a := range sorted {
		sub(rpc.BroadcastSubject(collective, a), rpc.AnyOneSubject(collective, a))
	}
	sub(rpc.NodeInboxPrefix(collective, identity) + ".>")
	// Its own direct subject: before serving, a node probes it to refuse
	// to start beside a live agent of the same identity.
	pub(rpc.DirectSubject(collective, identity))
	// Creating a bucket reads the account's JetStream limits first.
	pub("$JS.API.INFO")
	for _, bucket := range []string{rpc.RegistryBucket(collective), rpc.LastSeenBucket(collective)} {
		key := kvSubject(bucket, fleet.EncodeIdentity(identity))
		// Its own entry: written, and read back before it is removed (a
		// stopping node removes only an entry of its own instance).
		pub(key, "$JS.API.DIRECT.GET.KV_"+bucket+"."+key, streamAPI("INFO", bucket), streamAPI("CREATE", bucket))
	}
	for _, a := range sorted {
		if a == "angelia" {
			bucket := collective + "_angelia"
			pub(kvSubject(bucket, ">"), streamAPI("INFO", bucket), streamAPI("CREATE", bucket),
				"$JS.API.DIRECT.GET.KV_"+bucket+".>", streamAPI("MSG.GET", bucket))
		}
	}
	return p
}

func kvSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

func streamAPI(op, bucket string) string { return "$JS.API.STREAM." + op + ".KV_" + bucket }

// writeUser writes one nkey user; responses, when set, is how long the
// user may answer a request it received (allow_responses).
func writeUser(b *strings.Builder, who, key string, p Permissions, responses string) {
	fmt.Fprintf(b, "    # %s\n    {\n      nkey: %q\n      permissions: {\n", who, key)
	fmt.Fprintf(b, "        publish: { allow: %s }\n", quoteList(p.Publish))
	fmt.Fprintf(b, "        subscribe: { allow: %s }\n", quoteList(p.Subscribe))
	if responses != "" {
		fmt.Fprintf(b, "        allow_responses: { max: 1, expires: %q }\n", responses)
	}
	b.WriteString("      }\n    }\n")
}

func writeTLS(b *strings.Builder, t *TLSFiles) {
	fmt.Fprintf(b, "tls {\n  cert_file: %q\n  key_file: %q\n", t.Cert, t.Key)
	if t.CA != "" {
		fmt.Fprintf(b, "  ca_file: %q\n", t.CA)
	}
	if t.Verify {
		b.WriteString("  verify: true\n")
	}
	b.WriteString("}\n\n")
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
