package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/broker"
	"github.com/orch-fleet/orch/node"
)

// pkiCert is a certificate and its key, and the key pair to sign with.
type pkiCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// writeCert creates a certificate signed by parent (self-signed when nil)
// and writes NAME.pem and NAME-key.pem into dir.
func writeCert(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *pkiCert) *pkiCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kb)
	return &pkiCert{cert: cert, key: key}
}

func writePEM(t *testing.T, path, typ string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePKI writes ca.pem, server.pem (for 127.0.0.1 and localhost),
// client.pem (and their -key.pem) and other-ca.pem, a CA that signed
// nothing of these, into dir.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	ca := writeCert(t, dir, "ca", caTmpl("orch test CA"), nil)
	writeCert(t, dir, "other-ca", caTmpl("another CA"), nil)
	writeCert(t, dir, "server", &x509.Certificate{Subject: pkix.Name{CommonName: "broker"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	writeCert(t, dir, "client", &x509.Certificate{Subject: pkix.Name{CommonName: "orch client"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
}

// orchIn runs orch in-process with the environment vars (nothing else).
func orchIn(ctx context.Context, vars map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(ctx, &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}, args)
	return code, out.String(), errb.String()
}

// startNode runs the agent of the config file path in-process until the
// test ends.
func startNode(t *testing.T, path string) {
	t.Helper()
	cfg, diags := node.LoadConfig(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	n, diags := node.New(cfg, node.Options{Version: "test"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestMutualTLS runs a broker that verifies client certificates (mTLS)
// and authenticates nkeys, both configured by orch broker gen-auth, a node
// and the CLI with certificates made here; ping and apply go through,
// and each missing or wrong setting fails naming the setting to fix.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	p := func(name string) string { return filepath.Join(dir, name) }
	ctx := t.Context()
	none := map[string]string{}
	for _, k := range []string{"ops", "web1"} {
		if code, _, errs := orchIn(ctx, none, "keygen", "--out", p(k+".nk")); code != 0 {
			t.Fatal(errs)
		}
	}
	if code, _, errs := orchIn(ctx, none, "broker", "gen-auth", "--client", "ops="+p("ops.nk"), "--node", "web1="+p("web1.nk")+":rpcutil",
		"--tls-cert", p("server.pem"), "--tls-key", p("server-key.pem"), "--tls-ca", p("ca.pem"), "--tls-verify", "--out", p("auth.conf")); code != 0 {
		t.Fatal(errs)
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), ConfigFile: p("auth.conf")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	url := strings.Replace(b.ClientURL(), "nats://", "tls://", 1)
	opsPub, _ := publicKey(p("ops.nk"))
	writeFile(t, p("web1.hcl"), fmt.Sprintf(`identity = "web1"
servers = [%q]
data_dir = %q
key_file = %q
broker_nkey_file = "web1.nk"
tls_ca = "ca.pem"
tls_cert = "client.pem"
tls_key = "client-key.pem"
facts = { role = "web" }
client "ops" { key = %q }
`, url, p("web1"), p("web1.nk"), opsPub))
	startNode(t, p("web1.hcl"))
	// The client's settings come from its config file.
	writeFile(t, p("client.hcl"), fmt.Sprintf("servers = [%q]\nkey = \"ops.nk\"\nbroker_nkey_file = \"ops.nk\"\ntls_ca = \"ca.pem\"\ntls_cert = \"client.pem\"\ntls_key = \"client-key.pem\"\n", url))
	vars := map[string]string{"ORCH_CLIENT_CONFIG": p("client.hcl")}
	eventually(t, 10*time.Second, "web1 answers a ping through mTLS", func() bool {
		code, out, _ := orchIn(ctx, vars, "ping")
		return code == 0 && strings.Contains(out, "web1")
	})
	writeFile(t, p("ping.hcl"), "nodes \"web\" {\n  fact = { role = \"web\" }\n}\nresource \"rpcutil_ping\" \"web\" {\n  targets = nodes.web\n}\n")
	if code, out, errs := orchIn(ctx, vars, "apply", p("ping.hcl")); code != 0 {
		t.Fatalf("apply through mTLS: exit %d\n%s\n%s", code, out, errs)
	}

	fails := map[string]struct {
		args []string
		want string
	}{
		"wrong CA":           {[]string{"--tls-ca", p("other-ca.pem")}, "set tls_ca (flag --tls-ca"},
		"no client cert":     {[]string{"--tls-cert", "", "--tls-key", ""}, "set tls_cert and tls_key"},
		"no broker key":      {[]string{"--broker-nkey", ""}, "set broker_nkey_file (flag --broker-nkey"},
		"cert without a key": {[]string{"--tls-key", ""}, "tls_cert and tls_key go together"},
	}
	for name, tc := range fails {
		t.Run(name, func(t *testing.T) {
			code, _, errs := orchIn(ctx, vars, append([]string{"ping"}, tc.args...)...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a failure naming %q", code, errs, tc.want)
			}
			t.Log(strings.TrimSpace(errs))
		})
	}
}

// TestURLPasswordNeverShown: a password in a broker URL appears in no
// error or setting shown, whether the broker refuses it or is not there.
func TestURLPasswordNeverShown(t *testing.T) {
	const secret = "hunter2-Sekr1t"
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	if code, _, errs := orchIn(t.Context(), nil, "keygen", "--out", filepath.Join(dir, "k.nk")); code != 0 {
		t.Fatal(errs)
	}
	addr := strings.TrimPrefix(b.ClientURL(), "nats://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cases := map[string]struct{ url, cmd string }{
		"user and password, no broker": {"nats://alice:" + secret + "@" + closed, "ping"},
		"token, no broker":             {"nats://" + secret + "@" + closed, "ping"},
		"shown by orch config":         {"nats://alice:" + secret + "@" + addr, "config"},
		"several URLs":                 {"nats://" + closed + ",tls://bob:" + secret + "@" + closed, "discover"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"ORCH_KEY": filepath.Join(dir, "k.nk"), "ORCH_SERVER": tc.url}
			_, out, errs := orchIn(t.Context(), vars, tc.cmd, "--broker-grace", "1s")
			if tc.cmd == "config" {
				_, out, errs = orchIn(t.Context(), vars, tc.cmd)
			}
			if strings.Contains(out+errs, secret) {
				t.Fatalf("the password is shown:\n%s%s", out, errs)
			}
			if !strings.Contains(out+errs, "***@") {
				t.Errorf("no redacted URL in the output:\n%s%s", out, errs)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
