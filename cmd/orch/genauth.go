package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/providers/builtin"
	"github.com/orch-fleet/orch/rpc"
)

// genAuthSynopsis is the usage line of orch broker gen-auth.
const genAuthSynopsis = "orch broker gen-auth --client NAME=KEY... --node IDENTITY=KEY[:AGENT,...]... [--nodes-dir DIR] [--out FILE]"

// runGenAuth is `orch broker gen-auth`: a nats-server configuration with
// an nkey user per client and node and their subject permissions.
func runGenAuth(_ context.Context, e *env, args []string) int {
	fs := flagSetWithSynopsis("broker gen-auth", genAuthSynopsis, e.stderr)
	var clients, nodes stringList
	fs.Var(&clients, "client", "a client: `NAME=KEY`, KEY a public key (U…) or a file holding one or its seed (repeatable)")
	fs.Var(&nodes, "node", "a node: `IDENTITY=KEY[:AGENT,...]` (repeatable); agents default to --agents")
	nodesDir := fs.String("nodes-dir", "", "a `dir` of IDENTITY.pub (or .nk) files, one node each, serving --agents")
	agents := fs.String("agents", strings.Join(builtinAgents(), ","), "default `agents` of a node (comma-separated)")
	collective := fs.String("collective", rpc.DefaultCollective, "collective (subject prefix)")
	tlsCert := fs.String("tls-cert", "", "broker certificate `file` (PEM): adds a tls block")
	tlsKey := fs.String("tls-key", "", "broker certificate key `file` (PEM)")
	tlsCA := fs.String("tls-ca", "", "CA `file` (PEM) that signs client certificates")
	verify := fs.Bool("tls-verify", false, "require client certificates signed by --tls-ca (mTLS)")
	out := fs.String("out", "", "write to `file` (default: standard output)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	}
	cfg := broker.AuthConfig{Collective: *collective}
	if *tlsCert != "" || *tlsKey != "" {
		cfg.TLS = &broker.TLSFiles{Cert: *tlsCert, Key: *tlsKey, CA: *tlsCA, Verify: *verify}
	} else if *verify || *tlsCA != "" {
		return usageErr(e, "broker gen-auth", "--tls-ca and --tls-verify need --tls-cert and --tls-key")
	}
	defAgents := splitList(*agents)
	var err error
	if cfg.Clients, err = parseClients(clients); err == nil {
		cfg.Nodes, err = parseNodes(nodes, *nodesDir, defAgents)
	}
	if err != nil {
		return usageErr(e, "broker gen-auth", "%v", err)
	}
	conf, err := broker.GenerateAuth(cfg)
	if err != nil {
		return usageErr(e, "broker gen-auth", "%v", err)
	}
	if *out == "" {
		_, _ = e.stdout.Write(conf)
		return exitOK
	}
	if err := os.WriteFile(*out, conf, 0o644); err != nil {
		fmt.Fprintf(e.stderr, "orch broker gen-auth: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d client(s), %d node(s); start the broker with --config %s\n", *out, len(cfg.Clients), len(cfg.Nodes), *out)
	return exitOK
}

func builtinAgents() []string {
	var names []string
	for _, s := range builtin.Specs() {
		names = append(names, s.Name)
	}
	return names
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseClients(specs []string) ([]broker.AuthClient, error) {
	var out []broker.AuthClient
	for _, s := range specs {
		name, key, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--client %q: want NAME=KEY", s)
		}
		pub, err := publicKey(key)
		if err != nil {
			return nil, fmt.Errorf("--client %s: %w", name, err)
		}
		out = append(out, broker.AuthClient{Name: name, Key: pub})
	}
	return out, nil
}

// parseNodes reads the --node flags and the files of dir (IDENTITY.pub or
// IDENTITY.nk), sorted by identity.
func parseNodes(specs []string, dir string, agents []string) ([]broker.AuthNode, error) {
	var out []broker.AuthNode
	for _, s := range specs {
		id, key, ok := strings.Cut(s, "=")
		if !ok || id == "" {
			return nil, fmt.Errorf("--node %q: want IDENTITY=KEY[:AGENT,...]", s)
		}
		nodeAgents := agents
		if i := strings.LastIndexByte(key, ':'); i > 0 {
			key, nodeAgents = key[:i], splitList(key[i+1:])
		}
		pub, err := publicKey(key)
		if err != nil {
			return nil, fmt.Errorf("--node %s: %w", id, err)
		}
		out = append(out, broker.AuthNode{Identity: id, Key: pub, Agents: nodeAgents})
	}
	if dir != "" {
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			return nil, fmt.Errorf("--nodes-dir: %w", err)
		}
		for _, f := range files {
			ext := filepath.Ext(f)
			if ext != ".pub" && ext != ".nk" {
				continue
			}
			pub, err := publicKey(f)
			if err != nil {
				return nil, fmt.Errorf("--nodes-dir: %w", err)
			}
			out = append(out, broker.AuthNode{Identity: strings.TrimSuffix(filepath.Base(f), ext), Key: pub, Agents: agents})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out, nil
}

// publicKey is s when it is a user public key, else the public key in the
// file s: its first line that is a public key or a seed (orch keygen
// writes a seed; its public key alone may be kept in a .pub file).
func publicKey(s string) (string, error) {
	if nkeys.IsValidPublicUserKey(s) {
		return s, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("%q is neither a public key (U…) nor a readable file: %w", s, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if nkeys.IsValidPublicUserKey(line) {
			return line, nil
		}
		if kp, err := nkeys.FromSeed([]byte(line)); err == nil {
			return kp.PublicKey()
		}
	}
	return "", fmt.Errorf("%s holds no nkey user public key or seed", s)
}
