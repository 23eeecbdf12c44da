package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/providertest"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/rpc"
)

// freePort returns a free loopback TCP port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startHAProxy starts a real haproxy with a frontend on a loopback port and
// backend "web" of two servers (web1, web2), each a local HTTP server that
// answers with its name. It returns the frontend URL and the stats socket.
func startHAProxy(t *testing.T) (string, string) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy is not installed (make deps / .ci/run install it)")
	}
	dir := t.TempDir()
	var servers []string
	for _, name := range []string{"web1", "web2"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		servers = append(servers, fmt.Sprintf("  server %s %s check inter 100ms", name, l.Addr()))
	}
	sock := filepath.Join(dir, "admin.sock")
	fe := freePort(t)
	cfg := fmt.Sprintf(`global
  stats socket %s mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:%d
  default_backend web
backend web
  balance roundrobin
%s
backend api
  server api1 127.0.0.1:1 disabled
`, sock, fe, strings.Join(servers, "\n"))
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d/", fe)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if body, err := get(url); err == nil && strings.HasPrefix(body, "web") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("haproxy did not come up")
		}
	}
	return url, sock
}

func get(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// served returns which servers answered n requests through the frontend.
func served(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		body, err := get(url)
		if err != nil {
			t.Fatal(err)
		}
		seen[body]++
	}
	return seen
}

func newHandler(t *testing.T, body string) *Handler {
	t.Helper()
	return providertest.New(t, Spec(), body, providers.Env{Identity: "lb1"}).(*Handler)
}

func call(t *testing.T, h *Handler, action string, in map[string]any, noop bool) (*rpc.Result, error) {
	t.Helper()
	act, _ := Schema().Action(action)
	checked, err := act.Validate(in)
	if err != nil {
		t.Fatalf("schema refused %v: %v", in, err)
	}
	return h.Handle(context.Background(), &rpc.Call{Agent: "haproxy", Action: action, Input: checked, NoOp: noop})
}

func TestRuntimeAPI(t *testing.T) {
	url, sock := startHAProxy(t)
	h := newHandler(t, fmt.Sprintf(`socket = %q
servers = { "node-web2" = "web2" }`, sock))
	srv := func(ids ...string) []any {
		out := []any{}
		for _, id := range ids {
			out = append(out, id)
		}
		return out
	}
	state := func(name string) Server {
		st, err := h.Stat(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st["web"][name]
	}

	// Both servers take traffic.
	if seen := served(t, url, 6); seen["web1"] == 0 || seen["web2"] == 0 {
		t.Fatalf("before: %v", seen)
	}

	// Plan mode changes nothing but says what would change.
	res, err := call(t, h, "disable", map[string]any{"backend": "web", "servers": srv("web1")}, true)
	if err != nil || !res.Changed || !strings.Contains(res.Message, "would set web1 to maint") || strings.HasPrefix(state("web1").Status, "MAINT") {
		t.Fatalf("noop disable: %v %+v, state %+v", err, res, state("web1"))
	}

	// Disable web1: maintenance, and traffic stops reaching it.
	res, err = call(t, h, "disable", map[string]any{"backend": "web", "servers": srv("web1")}, false)
	if err != nil || !res.Changed {
		t.Fatalf("disable: %v %+v", err, res)
	}
	if s := state("web1"); !strings.HasPrefix(s.Status, "MAINT") {
		t.Fatalf("web1 after disable: %+v", s)
	}
	if seen := served(t, url, 6); seen["web1"] != 0 || seen["web2"] != 6 {
		t.Fatalf("traffic after disable: %v", seen)
	}
	// Again: already in maintenance, unchanged.
	res, err = call(t, h, "disable", map[string]any{"backend": "web", "servers": srv("web1")}, false)
	if err != nil || res.Changed || !strings.Contains(res.Message, "already disabled") {
		t.Fatalf("second disable: %v %+v", err, res)
	}

	// Drain web2 through the identity map, waiting for sessions to end.
	res, err = call(t, h, "drain", map[string]any{"backend": "web", "servers": srv("node-web2"), "wait": true, "wait_timeout": 5.0}, false)
	if err != nil || !res.Changed {
		t.Fatalf("drain: %v %+v", err, res)
	}
	if s := state("web2"); !strings.HasPrefix(s.Status, "DRAIN") {
		t.Fatalf("web2 after drain: %+v", s)
	}

	// Enable both: ready again and serving.
	res, err = call(t, h, "enable", map[string]any{"backend": "web", "servers": srv("web1", "node-web2")}, false)
	if err != nil || !res.Changed {
		t.Fatalf("enable: %v %+v", err, res)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if s1, s2 := state("web1"), state("web2"); strings.HasPrefix(s1.Status, "UP") && strings.HasPrefix(s2.Status, "UP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not UP after enable: %+v %+v", state("web1"), state("web2"))
		}
	}
	if seen := served(t, url, 6); seen["web1"] == 0 || seen["web2"] == 0 {
		t.Fatalf("traffic after enable: %v", seen)
	}

	// Status.
	res, err = call(t, h, "status", map[string]any{"backend": "web"}, false)
	if err != nil {
		t.Fatal(err)
	}
	bs := res.Data.(map[string]any)["backends"].(map[string]map[string]Server)
	if len(bs) != 1 || len(bs["web"]) != 2 || bs["web"]["web1"].CheckStatus == "" {
		t.Fatalf("status %+v", bs)
	}

	// Unknown backend or server: invalid input naming it.
	for _, in := range []map[string]any{
		{"backend": "nope", "servers": srv("web1")},
		{"backend": "web", "servers": srv("web7")},
	} {
		_, err := call(t, h, "disable", in, false)
		var se *fleet.StatusError
		if !errors.As(err, &se) || se.Status != fleet.StatusInvalidInput || (!strings.Contains(se.Message, "nope") && !strings.Contains(se.Message, "web7")) {
			t.Errorf("%v: got %v", in, err)
		}
	}
	// Injection attempts are refused by the schema.
	disable, _ := Schema().Action("disable")
	if _, err := disable.Validate(map[string]any{"backend": "web", "servers": []any{"web1 state ready\nshutdown sessions"}}); err == nil {
		t.Error("a server name with a newline passed the schema")
	}
}

func TestUnreachableSocket(t *testing.T) {
	h := newHandler(t, `socket = "/nonexistent/admin.sock"`)
	_, err := h.Handle(context.Background(), &rpc.Call{Action: "status", Input: map[string]any{}})
	var se *fleet.StatusError
	if !errors.As(err, &se) || se.Status != fleet.StatusAborted || !strings.Contains(se.Message, "/nonexistent/admin.sock") {
		t.Fatalf("got %v", err)
	}
}

// TestServersNotStrings: the schema lets a list hold non-strings; the typed
// input refuses them with invalid_input (the unchecked assertion it replaced
// panicked the agent).
func TestServersNotStrings(t *testing.T) {
	h := newHandler(t, `socket = "/nonexistent/admin.sock"`)
	_, err := call(t, h, "disable", map[string]any{"backend": "web", "servers": []any{"web1", 7.0}}, false)
	var se *fleet.StatusError
	if !errors.As(err, &se) || se.Status != fleet.StatusInvalidInput || !strings.Contains(se.Message, `input "servers" must be a string, got number`) {
		t.Fatalf("got %v", err)
	}
}

func TestParseStat(t *testing.T) {
	out := "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,\n" +
		"fe,FRONTEND,,,0,1,262,1,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,\n" +
		"web,web1,0,0,3,1,,1,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,1,5,5,,1,3,1,,1,,2,0,,1,L4OK,\n" +
		"web,BACKEND,0,0,0,1,27,1,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,3,0,,1,,1,0,,1,,\n"
	st, err := ParseStat(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := st["web"]["web1"]; s.Status != "MAINT" || s.Sessions != 3 || s.CheckStatus != "L4OK" || s.Weight != 1 || len(st["web"]) != 1 {
		t.Fatalf("%+v", st)
	}
}
