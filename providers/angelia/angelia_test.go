package angelia_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/internal/fleettest"
	"github.com/orch-fleet/orch/internal/providertest"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/angelia"
	"github.com/orch-fleet/orch/rpc"
)

// receiver is a local HTTP endpoint standing in for a chat or push service.
type receiver struct {
	mu     sync.Mutex
	bodies []string
	heads  []http.Header
	delay  time.Duration
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.heads = append(r.heads, req.Header.Clone())
	delay, status := r.delay, r.status
	r.mu.Unlock()
	time.Sleep(delay)
	if status != 0 {
		w.WriteHeader(status)
	}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// smtpMsg is a message the test SMTP listener accepted.
type smtpMsg struct {
	data string
	tls  bool   // the session had switched to TLS
	auth string // the AUTH PLAIN credentials, decoded
}

// smtpServer is a minimal local SMTP listener recording messages; with
// tlsConf it offers STARTTLS and AUTH PLAIN.
func smtpServer(t *testing.T, tlsConf *tls.Config) (string, func() []smtpMsg) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	var msgs []smtpMsg
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer func() { c.Close() }()
				r := bufio.NewReader(c)
				say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
				say("220 test ESMTP")
				var data strings.Builder
				inData, inTLS, auth := false, false, ""
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if inData {
						if line == ".\r\n" {
							inData = false
							mu.Lock()
							msgs = append(msgs, smtpMsg{data: data.String(), tls: inTLS, auth: auth})
							mu.Unlock()
							say("250 queued")
							continue
						}
						data.WriteString(line)
						continue
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						switch {
						case tlsConf != nil && !inTLS:
							say("250-test\r\n250-STARTTLS\r\n250 8BITMIME")
						case inTLS:
							say("250-test\r\n250-AUTH PLAIN\r\n250 8BITMIME")
						default:
							say("250-test\r\n250 8BITMIME")
						}
					case cmd == "STARTTLS" && tlsConf != nil:
						say("220 go ahead")
						tc := tls.Server(c, tlsConf)
						if err := tc.Handshake(); err != nil {
							return
						}
						c, r, inTLS = tc, bufio.NewReader(tc), true
					case strings.HasPrefix(cmd, "AUTH PLAIN"):
						b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line[len("AUTH PLAIN"):]))
						auth = strings.ReplaceAll(string(b), "\x00", ":")
						say("235 authenticated")
					case strings.HasPrefix(cmd, "DATA"):
						inData = true
						say("354 go ahead")
					case strings.HasPrefix(cmd, "QUIT"):
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}(c)
		}
	}()
	return l.Addr().String(), func() []smtpMsg {
		mu.Lock()
		defer mu.Unlock()
		return append([]smtpMsg(nil), msgs...)
	}
}

// selfSigned returns a TLS config for 127.0.0.1 and its certificate as PEM.
func selfSigned(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}}, certPEM
}

func TestEmailSTARTTLSAndAuth(t *testing.T) {
	conf, certPEM := selfSigned(t)
	addr, mails := smtpServer(t, conf)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	newH := func(extra string) rpc.Handler {
		body := fmt.Sprintf(`recipient "ops" {
  email {
    smtp     = %q
    from     = "orch@example.invalid"
    to       = ["ops@example.invalid"]
    username = "orch"
    password = "s3cret"
    %s
  }
}`, addr, extra)
		return providertest.New(t, angelia.Spec(), body, providers.Env{Identity: "notify1"})
	}
	call := &rpc.Call{Action: "notify", Input: map[string]any{"recipient": "ops", "subject": "s", "message": "m"}}
	// Trusting the private CA: the session is encrypted, then authenticated.
	if _, err := newH(fmt.Sprintf("ca_file = %q\n    starttls = \"always\"", ca)).Handle(context.Background(), call); err != nil {
		t.Fatal(err)
	}
	m := mails()
	if len(m) != 1 || !m[0].tls || m[0].auth != ":orch:s3cret" {
		t.Fatalf("mails %+v", m)
	}
	// Without the CA the server's certificate is refused: nothing is sent.
	if _, err := newH("").Handle(context.Background(), call); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if len(mails()) != 1 {
		t.Fatal("a message was sent over an unverified connection")
	}
}

func TestChannels(t *testing.T) {
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	smtpAddr, mails := smtpServer(t, nil)
	jsonl := filepath.Join(t.TempDir(), "notifications.jsonl")
	body := fmt.Sprintf(`
recipient "oncall" {
  webhook {
    url      = %q
    headers  = { Authorization = "Bearer t0ken" }
    template = "{\"text\": {{json (printf \"%%s: %%s\" .Subject .Message)}}, \"priority\": {{json .Priority}}}"
  }
  email {
    smtp = %q
    from = "orch@example.invalid"
    to   = ["ops@example.invalid"]
  }
  file {
    path = %q
  }
}`, hook.URL, smtpAddr, jsonl)
	h := providertest.New(t, angelia.Spec(), body, providers.Env{Identity: "notify1"})
	res, err := h.Handle(context.Background(), &rpc.Call{Action: "notify", RequestID: "r1", Input: map[string]any{
		"recipient": "oncall", "subject": "deploy bravo", "message": "revision 2 is live", "priority": "high"}})
	if err != nil || !res.Changed {
		t.Fatalf("%v %+v", err, res)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(rec.bodies[0]), &got); err != nil || got["text"] != "deploy bravo: revision 2 is live" || got["priority"] != "high" {
		t.Fatalf("webhook body %q (%v)", rec.bodies[0], err)
	}
	if rec.heads[0].Get("Authorization") != "Bearer t0ken" || rec.heads[0].Get("Idempotency-Key") != "r1" {
		t.Fatalf("headers %v", rec.heads[0])
	}
	if m := mails(); len(m) != 1 || !strings.Contains(m[0].data, "Subject: [high] deploy bravo") || !strings.Contains(m[0].data, "revision 2 is live") {
		t.Fatalf("mails %+v", m)
	}
	b, _ := os.ReadFile(jsonl)
	var n angelia.Notification
	if err := json.Unmarshal(b, &n); err != nil || n.Subject != "deploy bravo" || n.Node != "notify1" {
		t.Fatalf("file %q", b)
	}
	// Unknown recipient.
	if _, err := h.Handle(context.Background(), &rpc.Call{Action: "notify", Input: map[string]any{"recipient": "ceo", "subject": "s", "message": "m"}}); err == nil || !strings.Contains(err.Error(), "ceo") {
		t.Fatalf("unknown recipient: %v", err)
	}
}

// notifiers starts notifier nodes on a real broker, each delivering to its
// own webhook receiver, and returns a client.
func notifiers(t *testing.T, recs map[string]*receiver) (*rpc.Client, *fleettest.Fleet) {
	t.Helper()
	cfgs := map[string]string{}
	for id, rec := range recs {
		hook := httptest.NewServer(rec)
		t.Cleanup(hook.Close)
		cfgs[id] = fmt.Sprintf(`provider "angelia" {
  recipient "oncall" {
    webhook {
      url = %q
    }
  }
}
`, hook.URL)
	}
	f := fleettest.Start(t, cfgs)
	return f.Client(t), f
}

func notify(cl *rpc.Client, timeout time.Duration) (*fleet.CallResult, error) {
	return cl.CallAnyOne(context.Background(), fleet.CallRequest{Agent: "angelia", Action: "notify", Targets: []string{"notify1", "notify2"}, Timeout: timeout,
		Input: map[string]any{"recipient": "oncall", "subject": "s", "message": "m"}})
}

func TestFailoverDeliversOnce(t *testing.T) {
	t.Run("first notifier stuck mid-way", func(t *testing.T) {
		// notify1's receiver takes longer than the call timeout: the client
		// gives up on notify1 and asks notify2, which must not deliver again.
		r1, r2 := &receiver{delay: 1200 * time.Millisecond}, &receiver{}
		cl, _ := notifiers(t, map[string]*receiver{"notify1": r1, "notify2": r2})
		res, err := notify(cl, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replies) != 1 || res.Replies[0].Identity != "notify2" || !res.Replies[0].OK() || !strings.Contains(string(res.Replies[0].Data), `"duplicate":true`) {
			t.Fatalf("replies %+v missing %v", res.Replies, res.Missing)
		}
		if r1.count()+r2.count() != 1 {
			t.Fatalf("delivered %d + %d times", r1.count(), r2.count())
		}
	})
	t.Run("first notifier's channel fails", func(t *testing.T) {
		r1, r2 := &receiver{status: 500}, &receiver{}
		cl, _ := notifiers(t, map[string]*receiver{"notify1": r1, "notify2": r2})
		res, err := notify(cl, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Replies); n != 2 || res.Replies[0].OK() || !res.Replies[1].OK() || r2.count() != 1 {
			t.Fatalf("replies %+v, notify2 got %d", res.Replies, r2.count())
		}
	})
	t.Run("first notifier down", func(t *testing.T) {
		r1, r2 := &receiver{}, &receiver{}
		cl, f := notifiers(t, map[string]*receiver{"notify1": r1, "notify2": r2})
		f.Stop("notify1")
		res, err := notify(cl, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replies) != 1 || res.Replies[0].Identity != "notify2" || r1.count() != 0 || r2.count() != 1 {
			t.Fatalf("replies %+v", res.Replies)
		}
	})
}
