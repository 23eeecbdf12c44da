// Package demofleet starts the webapp scenario's fleet on loopback, in one
// directory: an orch broker, twelve `orch agent` processes (lb1; web1-web9
// in clusters alfa and bravo; notify1, notify2), a real HAProxy in front of
// nine small web servers that serve each node's current release, a git
// repository with two revisions of the application, and a webhook receiver
// for the notifications. `orch demo` and the end-to-end test of the
// scenario (examples/webapp/scenario_test.go) use it.
//
// It lives under internal/ so that the orch binary does not depend on
// examples/: playbook/ is a copy of examples/webapp/deploy.hcl (the
// rolling form), deploy-classic.hcl and their modules, embedded here and
// kept identical by TestPlaybookIsTheExample (go test ./internal/demofleet
// -update refreshes it).
//
//	f, err := demofleet.Start(ctx, demofleet.Options{Dir: dir, Binary: orchBinary})
//	if err != nil { ... }
//	defer f.Stop()
//	err = f.Bootstrap(ctx, "v1")
package demofleet

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch"
	"github.com/orch-fleet/orch/broker"
)

// playbook holds playbook/deploy.hcl, deploy-classic.hcl and
// playbook/modules, a copy of the example's.
//
//go:embed playbook
var playbook embed.FS

// Web nodes and their clusters.
var (
	Alfa  = []string{"web1", "web2", "web3", "web4", "web5"}
	Bravo = []string{"web6", "web7", "web8", "web9"}
)

// Options say where and how to start the fleet.
type Options struct {
	// Dir holds everything; it must exist and be empty.
	Dir string
	// Binary is the orch binary to run the broker, agents and web servers.
	Binary string
	// CheckLoad is the Nagios plugin the web nodes' check_load runs;
	// default /usr/lib/nagios/plugins/check_load.
	CheckLoad string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Fleet is a running demo fleet.
type Fleet struct {
	o Options
	// ServerURL is the broker's client URL.
	ServerURL string
	// KeyFile is the operator's nkey seed, trusted by every node.
	KeyFile string
	// HAProxySocket is the HAProxy runtime API socket.
	HAProxySocket string
	// FrontURL is HAProxy's front end.
	FrontURL string
	// PlaybookDir holds deploy.hcl, deploy-classic.hcl and their modules.
	PlaybookDir string
	// RepoDir is the application's git repository.
	RepoDir string

	mu       sync.Mutex
	procs    map[string]*exec.Cmd // name -> running process
	webPorts map[string]int
	hookSrv  *http.Server
	notes    []map[string]any
}

// Nodes returns every node identity.
func Nodes() []string {
	return append(append(append([]string{"lb1"}, Alfa...), Bravo...), "notify1", "notify2")
}

// Start starts the fleet and waits until every node is registered and
// HAProxy is up. On error everything started is stopped.
func Start(ctx context.Context, o Options) (f *Fleet, err error) {
	if o.CheckLoad == "" {
		o.CheckLoad = "/usr/lib/nagios/plugins/check_load"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, bin := range []string{"haproxy", "git"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s is not installed (make deps installs it)", bin)
		}
	}
	if _, err := os.Stat(o.CheckLoad); err != nil {
		return nil, fmt.Errorf("%s is missing: install monitoring-plugins-basic (make deps)", o.CheckLoad)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	f = &Fleet{o: o, procs: map[string]*exec.Cmd{}, webPorts: map[string]int{}}
	defer func() {
		if err != nil {
			f.Stop()
			f = nil
		}
	}()
	for _, d := range []string{"pids", "logs", "nodes", "apps", "faults", "haproxy", "broker"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	f.logf("fleet directory %s", dir)

	// The operator's key.
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	f.KeyFile = filepath.Join(dir, "client.nk")
	if err := os.WriteFile(f.KeyFile, seed, 0o600); err != nil {
		return nil, err
	}

	// The application repository, with two revisions.
	if err := f.makeRepo(); err != nil {
		return nil, fmt.Errorf("creating the application repository: %w", err)
	}
	// The playbook, next to the fleet.
	f.PlaybookDir = filepath.Join(dir, "playbook")
	sub, err := fs.Sub(playbook, "playbook")
	if err != nil {
		return nil, err
	}
	if err := writeFS(sub, f.PlaybookDir); err != nil {
		return nil, err
	}

	// The broker, on a port it picks (a port picked here and freed for it
	// could be taken by someone else meanwhile).
	authConf, err := f.writeAuth(pub)
	if err != nil {
		return nil, fmt.Errorf("writing the broker's authorization: %w", err)
	}
	if err := f.spawn("broker", o.Binary, "broker", "--listen", "127.0.0.1:0", "--config", authConf, "--store-dir", filepath.Join(dir, "broker"), "--quiet"); err != nil {
		return nil, err
	}
	brokerPort, err := waitAddr(ctx, func() (int, bool) { return portIn(f.logPath("broker"), "orch broker listening on") }, "the broker")
	if err != nil {
		return nil, fmt.Errorf("%w (see %s)", err, f.logPath("broker"))
	}
	f.ServerURL = fmt.Sprintf("nats://127.0.0.1:%d", brokerPort)

	// The webhook receiver (in this process).
	hookURL, err := f.startReceiver()
	if err != nil {
		return nil, err
	}

	// The web servers, each on a port it picks and writes down.
	web := append(append([]string{}, Alfa...), Bravo...)
	for _, id := range web {
		if err := f.spawn("http-"+id, o.Binary, "demo", "web", "--identity", id, "--listen", "127.0.0.1:0", "--addr-file", f.addrPath(id), "--root", f.appRoot(id)); err != nil {
			return nil, err
		}
	}
	for _, id := range web {
		port, err := waitAddr(ctx, func() (int, bool) { return portIn(f.addrPath(id), "") }, "web server "+id)
		if err != nil {
			return nil, fmt.Errorf("%w (see %s)", err, f.logPath("http-"+id))
		}
		f.webPorts[id] = port
	}

	// HAProxy.
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	f.HAProxySocket = filepath.Join(dir, "haproxy", "admin.sock")
	f.FrontURL = fmt.Sprintf("http://127.0.0.1:%d/", ports[0])
	if err := f.startHAProxy(ports[0]); err != nil {
		return nil, err
	}

	// The check script and the node daemons.
	if err := f.writeCheck(); err != nil {
		return nil, err
	}
	for _, id := range Nodes() {
		cfg := filepath.Join(dir, "nodes", id+".hcl")
		if err := os.WriteFile(cfg, []byte(f.nodeConfig(id, pub, hookURL)), 0o644); err != nil {
			return nil, err
		}
		if err := f.StartNode(id); err != nil {
			return nil, err
		}
	}
	if err := f.waitRegistered(ctx); err != nil {
		return nil, err
	}
	if err := f.writeEnv(); err != nil {
		return nil, err
	}
	f.logf("fleet ready: broker %s, HAProxy %s, %d nodes", f.ServerURL, f.FrontURL, len(Nodes()))
	return f, nil
}

func (f *Fleet) logf(format string, args ...any) {
	fmt.Fprintf(f.o.Log, "[demo] "+format+"\n", args...)
}

func (f *Fleet) appRoot(id string) string   { return filepath.Join(f.o.Dir, "apps", id) }
func (f *Fleet) logPath(name string) string { return filepath.Join(f.o.Dir, "logs", name+".log") }

// addrPath is where web server id writes the address it listens on.
func (f *Fleet) addrPath(id string) string  { return filepath.Join(f.o.Dir, "pids", "http-"+id+".addr") }
func (f *Fleet) pidPath(name string) string { return filepath.Join(f.o.Dir, "pids", name+".pid") }

// Dir returns the fleet's directory.
func (f *Fleet) Dir() string { return f.o.Dir }

// Env returns the environment a client needs: ORCH_SERVER, ORCH_KEY,
// ORCH_BROKER_NKEY (the broker authenticates the operator by the same key)
// and the demo's own variables.
func (f *Fleet) Env() map[string]string {
	return map[string]string{
		"ORCH_SERVER":              f.ServerURL,
		"ORCH_KEY":                 f.KeyFile,
		"ORCH_BROKER_NKEY":         f.KeyFile,
		"ORCH_DEMO_HAPROXY_SOCKET": f.HAProxySocket,
		"ORCH_DEMO_URL":            f.FrontURL,
		"ORCH_DEMO_DIR":            f.o.Dir,
		"ORCH_DEMO_PLAYBOOK":       filepath.Join(f.PlaybookDir, "deploy.hcl"),
	}
}

func (f *Fleet) writeEnv() error {
	env := f.Env()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# source this file to use the demo fleet: . " + filepath.Join(f.o.Dir, "env") + "\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%q\n", k, env[k])
	}
	return os.WriteFile(filepath.Join(f.o.Dir, "env"), []byte(b.String()), 0o644)
}

// spawn starts a process named name, logging to logs/NAME.log, with its
// pid in pids/NAME.pid.
func (f *Fleet) spawn(name, bin string, args ...string) error {
	logf, err := os.OpenFile(f.logPath(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = f.o.Dir
	// Own process group: a Ctrl-C on the terminal reaches the demo, which
	// then stops everything in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	logf.Close()
	if err := os.WriteFile(f.pidPath(name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	f.mu.Lock()
	f.procs[name] = cmd
	f.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		f.mu.Lock()
		if f.procs[name] == cmd {
			delete(f.procs, name)
			_ = os.Remove(f.pidPath(name))
		}
		f.mu.Unlock()
	}()
	return nil
}

// StartNode starts (or restarts) the node daemon of id.
func (f *Fleet) StartNode(id string) error {
	return f.spawn(id, f.o.Binary, "agent", "--config", filepath.Join(f.o.Dir, "nodes", id+".hcl"), "--log-level", "warn")
}

// Kill kills a process of the fleet (a node identity, "haproxy",
// "broker", "http-web3") with SIGKILL, as a crash would: a node killed so
// stays in the registry until its entry expires.
func (f *Fleet) Kill(name string) error { return f.signal(name, syscall.SIGKILL) }

// Terminate stops a process of the fleet with SIGTERM (a node deregisters).
func (f *Fleet) Terminate(name string) error { return f.signal(name, syscall.SIGTERM) }

func (f *Fleet) signal(name string, sig syscall.Signal) error {
	f.mu.Lock()
	cmd := f.procs[name]
	f.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s is not running", name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		f.mu.Lock()
		_, running := f.procs[name]
		f.mu.Unlock()
		if !running {
			return nil
		}
	}
	return fmt.Errorf("%s did not stop", name)
}

// Stop stops everything the fleet started: node daemons first (they
// deregister), then the web servers, HAProxy and the broker.
func (f *Fleet) Stop() {
	f.mu.Lock()
	var nodes, rest []string
	for name := range f.procs {
		if name == "broker" {
			continue
		}
		if strings.HasPrefix(name, "http-") || name == "haproxy" {
			rest = append(rest, name)
		} else {
			nodes = append(nodes, name)
		}
	}
	f.mu.Unlock()
	stopAll := func(names []string) {
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Add(1)
			go func(n string) {
				defer wg.Done()
				if err := f.Terminate(n); err != nil {
					_ = f.Kill(n)
				}
			}(n)
		}
		wg.Wait()
	}
	stopAll(nodes)
	stopAll(rest)
	stopAll([]string{"broker"})
	if f.hookSrv != nil {
		_ = f.hookSrv.Close()
	}
}

// makeRepo creates the application's repository: revision v1 and v2 (main).
func (f *Fleet) makeRepo() error {
	f.RepoDir = filepath.Join(f.o.Dir, "repo", "webapp")
	if err := os.MkdirAll(f.RepoDir, 0o755); err != nil {
		return err
	}
	git := func(args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = f.RepoDir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=orch demo", "GIT_AUTHOR_EMAIL=demo@orch.invalid",
			"GIT_COMMITTER_NAME=orch demo", "GIT_COMMITTER_EMAIL=demo@orch.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, out)
		}
		return nil
	}
	if err := git("init", "--quiet", "-b", "main"); err != nil {
		return err
	}
	for _, rev := range []string{"v1", "v2"} {
		page := fmt.Sprintf("<!doctype html>\n<title>webapp %s</title>\n<h1>webapp %s</h1>\n", rev, rev)
		if err := os.WriteFile(filepath.Join(f.RepoDir, "index.html"), []byte(page), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.RepoDir, "VERSION"), []byte(rev+"\n"), 0o644); err != nil {
			return err
		}
		for _, args := range [][]string{{"add", "."}, {"commit", "--quiet", "-m", "webapp " + rev}, {"tag", rev}} {
			if err := git(args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFS copies an embedded tree to dir.
func writeFS(fsys fs.FS, dir string) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

func (f *Fleet) startHAProxy(port int) error {
	var servers strings.Builder
	for _, id := range append(append([]string{}, Alfa...), Bravo...) {
		fmt.Fprintf(&servers, "  server %s 127.0.0.1:%d check inter 500ms fall 2 rise 1\n", id, f.webPorts[id])
	}
	cfg := fmt.Sprintf(`# HAProxy of the orch demo: a front end on loopback, the nine web nodes
# behind it, and the runtime API socket lb1's orch agent talks to.
global
  stats socket %s mode 600 level admin
  log stderr format short local0 notice

defaults
  mode http
  option httplog
  timeout connect 2s
  timeout client 10s
  timeout server 10s

frontend www
  bind 127.0.0.1:%d
  default_backend web

backend web
  balance roundrobin
  option httpchk GET /health
  http-response set-header X-Served-By %%s
%s`, f.HAProxySocket, port, servers.String())
	path := filepath.Join(f.o.Dir, "haproxy", "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("haproxy", "-c", "-q", "-f", path).CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy rejects its config: %v: %s", err, out)
	}
	if err := f.spawn("haproxy", "haproxy", "-db", "-f", path); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		return fmt.Errorf("haproxy did not start: %w (see %s)", err, f.logPath("haproxy"))
	}
	return nil
}

// writeCheck writes the web nodes' check_load: the real Nagios plugin,
// unless faults/IDENTITY-load exists (then CRITICAL, as on an overloaded
// node), or faults/fast-load (then OK at once, to measure the playbook's
// own overhead).
func (f *Fleet) writeCheck() error {
	script := fmt.Sprintf(`#!/bin/sh
# check_load of the demo's web nodes: $1 is the node's identity.
faults=%q
if [ -e "$faults/$1-load" ]; then
  echo "CRITICAL - load average: 42.00, 40.00, 38.00|load1=42.000;15.000;30.000;0; load5=40.000;10.000;25.000;0; load15=38.000;5.000;20.000;0;"
  exit 2
fi
if [ -e "$faults/fast-load" ]; then
  echo "OK - load average: 0.00, 0.00, 0.00 (not measured)"
  exit 0
fi
exec %s -w 1000,1000,1000 -c 2000,2000,2000
`, filepath.Join(f.o.Dir, "faults"), f.o.CheckLoad)
	return os.WriteFile(filepath.Join(f.o.Dir, "check_load"), []byte(script), 0o755)
}

// SetLoadCritical makes a web node's check_load report CRITICAL (or not).
func (f *Fleet) SetLoadCritical(id string, critical bool) error {
	return f.setFault(id+"-load", critical)
}

// SetFastLoad makes every check_load answer OK at once (or run the plugin).
func (f *Fleet) SetFastLoad(fast bool) error { return f.setFault("fast-load", fast) }

func (f *Fleet) setFault(name string, on bool) error {
	p := filepath.Join(f.o.Dir, "faults", name)
	if on {
		return os.WriteFile(p, nil, 0o644)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// nodeAgents are the agents the node id serves.
func nodeAgents(id string) []string {
	switch {
	case id == "lb1":
		return []string{"rpcutil", "haproxy", "nrpe"}
	case strings.HasPrefix(id, "web"):
		return []string{"rpcutil", "appmgr", "nrpe"}
	}
	return []string{"rpcutil", "angelia"}
}

// nodeKeyFile is the nkey seed of node id: it signs the node's replies and
// authenticates it to the broker.
func (f *Fleet) nodeKeyFile(id string) string { return filepath.Join(f.o.Dir, "nodes", id, "node.nk") }

// writeAuth creates every node's key and writes the broker's
// authorization (orch broker gen-auth's): the operator's key as the one
// client, each node confined to its own subjects. It returns its path.
func (f *Fleet) writeAuth(clientPub string) (string, error) {
	cfg := broker.AuthConfig{Clients: []broker.AuthClient{{Name: "demo", Key: clientPub}}}
	for _, id := range Nodes() {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return "", err
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		if err := os.MkdirAll(filepath.Dir(f.nodeKeyFile(id)), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(f.nodeKeyFile(id), append(seed, '\n'), 0o600); err != nil {
			return "", err
		}
		cfg.Nodes = append(cfg.Nodes, broker.AuthNode{Identity: id, Key: pub, Agents: nodeAgents(id)})
	}
	conf, err := broker.GenerateAuth(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(f.o.Dir, "broker", "auth.conf")
	return path, os.WriteFile(path, conf, 0o644)
}

// nodeConfig is the orch agent config of a node.
func (f *Fleet) nodeConfig(id, pub, hookURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# orch agent config of %s in the demo fleet.
identity          = %q
servers           = [%q]
data_dir          = %q
audit_log         = %q
key_file          = %q
broker_nkey_file  = %q
register_interval = "5s"
registry_ttl      = "20s"
client "demo" {
  key = %q
}
`, id, id, f.ServerURL, filepath.Join(f.o.Dir, "nodes", id), filepath.Join(f.o.Dir, "nodes", id, "audit.jsonl"), f.nodeKeyFile(id), f.nodeKeyFile(id), pub)
	check := fmt.Sprintf(`provider "nrpe" {
  commands = {
    check_load = "%s %s"
  }
}
`, filepath.Join(f.o.Dir, "check_load"), id)
	switch {
	case id == "lb1":
		fmt.Fprintf(&b, `facts   = { role = "lb" }
classes = ["loadbalancer"]
provider "haproxy" {
  socket = %q
}
%s`, f.HAProxySocket, check)
	case strings.HasPrefix(id, "web"):
		cluster := "alfa"
		for _, w := range Bravo {
			if w == id {
				cluster = "bravo"
			}
		}
		fmt.Fprintf(&b, `facts   = { role = "web", cluster = %q }
classes = ["webserver"]
provider "appmgr" {
  app "webapp" {
    repo           = %q
    root           = %q
    restart        = "kill -HUP $(cat %s)"
    health_url     = "http://127.0.0.1:%d/health"
    health_timeout = "10s"
    keep           = 3
  }
}
%s`, cluster, f.RepoDir, f.appRoot(id), f.pidPath("http-"+id), f.webPorts[id], check)
	default:
		fmt.Fprintf(&b, `facts   = { role = "notifier" }
classes = ["notifier"]
provider "angelia" {
  recipient "ops" {
    webhook {
      url = %q
    }
    file {
      path = %q
    }
  }
}
`, hookURL, filepath.Join(f.o.Dir, "notifications-"+id+".jsonl"))
	}
	return b.String()
}

// startReceiver starts the webhook receiver standing in for a chat service.
func (f *Fleet) startReceiver() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	f.hookSrv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n map[string]any
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.notes = append(f.notes, n)
		f.mu.Unlock()
		f.logf("notification received from %v: %v", n["node"], n["subject"])
	}), ReadHeaderTimeout: 5 * time.Second}
	go f.hookSrv.Serve(l)
	return "http://" + l.Addr().String() + "/notify", nil
}

// Notifications returns the notifications the webhook received, in order.
func (f *Fleet) Notifications() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.notes...)
}

// Client connects the SDK to the fleet.
func (f *Fleet) Client(ctx context.Context) (*orch.Fleet, error) {
	return orch.Connect(ctx, orch.Options{Servers: []string{f.ServerURL}, KeyFile: f.KeyFile, Name: "orch-demo",
		Security: orch.ConnSecurity{NkeyFile: f.KeyFile}})
}

func (f *Fleet) waitRegistered(ctx context.Context) error {
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	want := len(Nodes())
	var got []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, err = c.Discover(ctx, orch.Filter{}); err == nil && len(got) == want {
			return nil
		}
	}
	return fmt.Errorf("only %d of %d nodes registered (%v); see %s", len(got), want, got, filepath.Join(f.o.Dir, "logs"))
}

// Bootstrap deploys a revision on every web node through the SDK and waits
// until HAProxy serves it from all of them.
func (f *Fleet) Bootstrap(ctx context.Context, revision string) error {
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Call(ctx, orch.Call{Agent: "appmgr", Action: "deploy", Input: map[string]any{"app": "webapp", "revision": revision},
		Filter: orch.Filter{Classes: []string{"webserver"}}, Timeout: time.Minute})
	if err != nil {
		return err
	}
	if !res.OK() {
		var why []string
		for _, id := range res.Failed() {
			why = append(why, id+": "+res.Nodes[id].Err)
		}
		return fmt.Errorf("deploying %s: %s", revision, strings.Join(why, "; "))
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		served, err := f.Served(ctx)
		if err == nil && len(served) == len(Alfa)+len(Bravo) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("HAProxy serves only %v after deploying %s", served, revision)
		}
	}
}

// Served fetches the front end until every server in rotation has
// answered, and returns which revision each one served.
func (f *Fleet) Served(ctx context.Context) (map[string]string, error) {
	client := http.Client{Timeout: 3 * time.Second}
	out := map[string]string{}
	misses := 0
	for i := 0; i < 4*(len(Alfa)+len(Bravo)) && misses < 3; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.FrontURL, nil)
		resp, err := client.Do(req)
		if err != nil {
			return out, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			misses++
			continue
		}
		out[resp.Header.Get("X-Node")] = resp.Header.Get("X-Revision")
	}
	return out, nil
}

// ServerStates returns HAProxy's state of each web server (UP, MAINT, ...).
func (f *Fleet) ServerStates() (map[string]string, error) {
	conn, err := net.DialTimeout("unix", f.HAProxySocket, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, "show servers state web\n"); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return nil, err
	}
	// Columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		fl := strings.Fields(line)
		if len(fl) < 7 || strings.HasPrefix(line, "#") || fl[1] != "web" {
			continue
		}
		admin, _ := strconv.Atoi(fl[6])
		op, _ := strconv.Atoi(fl[5])
		switch {
		case admin&0x01 != 0 || admin&0x20 != 0:
			out[fl[3]] = "MAINT"
		case admin&0x08 != 0:
			out[fl[3]] = "DRAIN"
		case op == 2:
			out[fl[3]] = "UP"
		default:
			out[fl[3]] = "DOWN"
		}
	}
	return out, nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func waitTCP(ctx context.Context, addr string) error {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
	}
}

// ServeWeb is the demo's web server (`orch demo web`): it serves the files
// of ROOT/current with the node and the revision in X-Node and X-Revision
// headers, /health (200 once a release is current), and re-reads the
// revision on SIGHUP, as a real application server reloads on restart.
// When addrFile is set, the address it listens on (listen may say port 0)
// is written there once it listens.
func ServeWeb(ctx context.Context, identity, listen, root, addrFile string, hup <-chan os.Signal) error {
	var mu sync.RWMutex
	revision := ""
	load := func() {
		b, err := os.ReadFile(filepath.Join(root, "current", "VERSION"))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			revision = ""
			return
		}
		revision = string(bytes.TrimSpace(b))
	}
	load()
	files := http.FileServer(http.Dir(filepath.Join(root, "current")))
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		mu.RLock()
		rev := revision
		mu.RUnlock()
		if rev == "" {
			http.Error(w, "no release", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok %s\n", rev)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		rev := revision
		mu.RUnlock()
		w.Header().Set("X-Node", identity)
		w.Header().Set("X-Revision", rev)
		if rev == "" {
			http.Error(w, "no release deployed", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		for {
			select {
			case <-ctx.Done():
				_ = srv.Close()
				return
			case _, ok := <-hup:
				if !ok {
					return
				}
				load()
			}
		}
	}()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if addrFile != "" {
		if err := writeAtomic(addrFile, []byte(l.Addr().String()+"\n")); err != nil {
			l.Close()
			return err
		}
	}
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeAtomic writes a file that readers see whole or not at all.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// waitAddr waits for the address a process wrote to file (ServeWeb's
// addrFile, the broker's "listening on" line) and returns its port.
func waitAddr(ctx context.Context, read func() (int, bool), what string) (int, error) {
	for deadline := time.Now().Add(15 * time.Second); ; {
		if port, ok := read(); ok {
			return port, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not start listening within 15s", what)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// portIn reads the port of the first "host:port" after prefix in file.
func portIn(file, prefix string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, ':')
		if port, err := strconv.Atoi(strings.TrimSpace(rest[i+1:])); i >= 0 && err == nil && port > 0 {
			return port, true
		}
	}
	return 0, false
}

// Release returns the revision a web node's current release holds (its
// VERSION file), "" when it has none: what the node runs, in the load
// balancer or not.
func (f *Fleet) Release(id string) string {
	b, err := os.ReadFile(filepath.Join(f.appRoot(id), "current", "VERSION"))
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}
