//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/rpc"
)

// brokerProc is one `orch broker` of the cluster.
type brokerProc struct {
	*proc
	url   string // client URL, nats://127.0.0.1:PORT
	route string // route URL, nats-route://127.0.0.1:PORT
}

// chaosFleet is the fleet under test: three brokers, the agents, the
// application repository, the operator's key, and a connection of the
// suite's own to read the buckets.
type chaosFleet struct {
	t         *testing.T
	dir       string
	bin       string
	keyFile   string // the operator's nkey seed: signs requests, authenticates to the brokers
	pub       string
	authConf  string
	brokers   []*brokerProc
	agents    map[string]*proc
	apps      []string // appmgr nodes, sorted
	notifiers []string // angelia nodes
	nc        *nats.Conn
	js        jetstream.JetStream
}

// newFleet starts the brokers and the agents (agents in all: two of
// them notifiers) and waits until the cluster serves JetStream and every
// node is registered. Everything is stopped in t.Cleanup.
func newFleet(t *testing.T, bin string, agents int) *chaosFleet {
	t.Helper()
	dir, err := os.MkdirTemp("", "orch-chaos-")
	must(t, err)
	f := &chaosFleet{t: t, dir: dir, bin: bin, agents: map[string]*proc{}}
	t.Cleanup(func() {
		f.stopAll()
		if t.Failed() || os.Getenv("CHAOS_KEEP") != "" {
			t.Logf("kept the fleet's directory (logs, node state, runs' events and reports): %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	for i := 1; i <= agents-2; i++ {
		f.apps = append(f.apps, fmt.Sprintf("app%02d", i))
	}
	f.notifiers = []string{"notify1", "notify2"}
	for _, d := range []string{"logs", "nodes", "notes", "runs"} {
		must(t, os.MkdirAll(filepath.Join(f.dir, d), 0o755))
	}
	must(t, f.writeKeysAndAuth())
	must(t, makeRepo(filepath.Join(f.dir, "repo")))
	must(t, os.WriteFile(f.playbook(), []byte(playbookHCL), 0o644))
	must(t, f.startBrokers())
	for _, id := range f.nodes() {
		must(t, os.WriteFile(f.nodeConfig(id), []byte(f.agentConfig(id)), 0o644))
		p := &proc{name: id, log: f.logPath(id), args: []string{bin, "agent", "--config", f.nodeConfig(id), "--log-level", "info"}}
		f.agents[id] = p
		must(t, p.start())
	}
	if err := f.waitRegistered(30*time.Second, f.nodes()...); err != nil {
		t.Fatal(err)
	}
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// nodes are every node's identity.
func (f *chaosFleet) nodes() []string { return append(append([]string{}, f.apps...), f.notifiers...) }

func (f *chaosFleet) logPath(name string) string  { return filepath.Join(f.dir, "logs", name+".log") }
func (f *chaosFleet) nodeDir(id string) string    { return filepath.Join(f.dir, "nodes", id) }
func (f *chaosFleet) nodeConfig(id string) string { return filepath.Join(f.dir, "nodes", id+".hcl") }
func (f *chaosFleet) nodeKey(id string) string    { return filepath.Join(f.nodeDir(id), "node.nk") }
func (f *chaosFleet) appRoot(id string) string    { return filepath.Join(f.nodeDir(id), "app") }
func (f *chaosFleet) notesFile(id string) string  { return filepath.Join(f.dir, "notes", id+".jsonl") }
func (f *chaosFleet) playbook() string            { return filepath.Join(f.dir, "chaos.hcl") }
func (f *chaosFleet) repo() string                { return filepath.Join(f.dir, "repo") }
func (f *chaosFleet) brokerStore(i int) string {
	return filepath.Join(f.dir, fmt.Sprintf("broker%d", i+1))
}
func (f *chaosFleet) servers() string         { return strings.Join(f.urls(), ",") }
func (f *chaosFleet) agent(id string) *proc   { return f.agents[id] }
func (f *chaosFleet) brokerName(i int) string { return fmt.Sprintf("b%d", i+1) }
func (f *chaosFleet) operatorEnv() []string {
	return append(os.Environ(), "ORCH_SERVER="+f.servers(), "ORCH_KEY="+f.keyFile, "ORCH_BROKER_NKEY="+f.keyFile,
		"ORCH_CLIENT_CONFIG="+filepath.Join(f.dir, "client.hcl"))
}

func (f *chaosFleet) urls() []string {
	var u []string
	for _, b := range f.brokers {
		u = append(u, b.url)
	}
	return u
}

// writeKeysAndAuth creates the operator's and every node's nkey and the
// brokers' authorization, as `orch broker gen-auth` writes it.
func (f *chaosFleet) writeKeysAndAuth() error {
	seed, pub, err := newKey()
	if err != nil {
		return err
	}
	f.pub, f.keyFile = pub, filepath.Join(f.dir, "operator.nk")
	if err := os.WriteFile(f.keyFile, seed, 0o600); err != nil {
		return err
	}
	// An empty client config file: the suite's settings come from the
	// environment only, never from the user's own file.
	if err := os.WriteFile(filepath.Join(f.dir, "client.hcl"), nil, 0o644); err != nil {
		return err
	}
	cfg := broker.AuthConfig{Clients: []broker.AuthClient{{Name: "chaos", Key: pub}}}
	for _, id := range f.nodes() {
		seed, npub, err := newKey()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(f.nodeDir(id), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.nodeKey(id), seed, 0o600); err != nil {
			return err
		}
		agents := []string{"rpcutil", "appmgr"}
		if strings.HasPrefix(id, "notify") {
			agents = []string{"rpcutil", "angelia"}
		}
		cfg.Nodes = append(cfg.Nodes, broker.AuthNode{Identity: id, Key: npub, Agents: agents})
	}
	conf, err := broker.GenerateAuth(cfg)
	if err != nil {
		return err
	}
	f.authConf = filepath.Join(f.dir, "auth.conf")
	return os.WriteFile(f.authConf, conf, 0o644)
}

func newKey() (seed []byte, pub string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", err
	}
	if seed, err = kp.Seed(); err != nil {
		return nil, "", err
	}
	pub, err = kp.PublicKey()
	return append(seed, '\n'), pub, err
}

// agentConfig is the orch agent config of node id. The restart command
// carries the fleet's directory so that the leftover check finds it.
func (f *chaosFleet) agentConfig(id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `identity          = %q
servers           = [%s]
data_dir          = %q
audit_log         = %q
key_file          = %q
broker_nkey_file  = %q
register_interval = "2s"
registry_ttl      = "10s"
client "chaos" {
  key = %q
}
`, id, quoteList(f.urls()), f.nodeDir(id), filepath.Join(f.nodeDir(id), "audit.jsonl"), f.nodeKey(id), f.nodeKey(id), f.pub)
	if strings.HasPrefix(id, "notify") {
		fmt.Fprintf(&b, "facts = { role = \"notifier\" }\nprovider \"angelia\" {\n  recipient \"ops\" {\n    file {\n      path = %q\n    }\n  }\n}\n", f.notesFile(id))
		return b.String()
	}
	fmt.Fprintf(&b, `facts = { role = "app" }
provider "appmgr" {
  app "app" {
    repo    = %q
    root    = %q
    restart = "sleep %s # chaos restart in %s"
    keep    = 3
  }
}
`, f.repo(), f.appRoot(id), restartSleep, f.dir)
	return b.String()
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// makeRepo creates the application's git repository with tags v1 and v2.
func makeRepo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	git := func(args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=chaos", "GIT_AUTHOR_EMAIL=chaos@orch.invalid",
			"GIT_COMMITTER_NAME=chaos", "GIT_COMMITTER_EMAIL=chaos@orch.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, out)
		}
		return nil
	}
	if err := git("init", "--quiet", "-b", "main"); err != nil {
		return err
	}
	for _, rev := range []string{"v1", "v2"} {
		if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(rev+"\n"), 0o644); err != nil {
			return err
		}
		for _, args := range [][]string{{"add", "."}, {"commit", "--quiet", "-m", rev}, {"tag", rev}} {
			if err := git(args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// stopAll stops every process of the fleet: agents, then brokers (each
// SIGTERM, else SIGKILL), and checks that none is left.
func (f *chaosFleet) stopAll() {
	if f.nc != nil {
		f.nc.Close()
	}
	for _, p := range f.agents {
		if err := p.stop(syscall.SIGTERM); err != nil {
			_ = p.stop(syscall.SIGKILL)
		}
	}
	for _, b := range f.brokers {
		if err := b.stop(syscall.SIGTERM); err != nil {
			_ = b.stop(syscall.SIGKILL)
		}
	}
	if left := leftovers(f.dir, 10*time.Second); left != "" {
		f.t.Errorf("processes left behind:\n%s", left)
	}
}

// leftovers waits up to d for no process to mention dir on its command
// line (agents, brokers, the restart commands of appmgr) and returns
// pgrep's listing of those still there.
func leftovers(dir string, d time.Duration) string {
	var out []byte
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		out, err = exec.Command("pgrep", "-a", "-f", regexp.QuoteMeta(dir)).Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return "" // pgrep: nothing matched
		}
		if errors.Is(err, exec.ErrNotFound) {
			return "pgrep is missing (make deps installs procps): cannot check"
		}
	}
	return string(out)
}

// connect opens the suite's own connection (the operator's key), used to
// read the lock bucket and the buckets' replicas.
func (f *chaosFleet) connect() error {
	opts, err := rpc.ConnSecurity{NkeyFile: f.keyFile}.Options()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if f.nc, err = rpc.Connect(ctx, f.urls(), "orch-chaos", opts...); err != nil {
		return err
	}
	f.js, err = jetstream.New(f.nc)
	return err
}
