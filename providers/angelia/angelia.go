// Package angelia is the provider that delivers notifications to people.
// Recipients in the node config map to channels: a webhook (an HTTP POST of
// a JSON body built from a template, with headers, so that it works with
// chat and push services), e-mail over SMTP (STARTTLS, auth), and a local
// JSON-lines file. Notifier nodes are called "any one of N"; a request id
// claimed in a NATS key-value bucket makes a notification delivered once
// even when the first notifier fails mid-way and the next one is tried.
package angelia

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "angelia", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

// Schema returns the angelia agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

// actions declares the angelia agent: each action's schema beside its
// handler.
func actions() *action.Table[*Handler] {
	return action.NewTable(ddl.Agent{
		Name:        "angelia",
		Description: "Deliver notifications to people: webhook, e-mail, JSON-lines file.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "notify", Mutates: true, Description: "Deliver a notification to a recipient's channels, once per request id.",
			Inputs: []ddl.Input{
				{Name: "recipient", Type: ddl.String, Required: true, Pattern: `^[A-Za-z0-9_.@-]+$`, MaxLength: 128, Description: "a recipient declared in the node config"},
				{Name: "subject", Type: ddl.String, Required: true, MaxLength: 256},
				{Name: "message", Type: ddl.String, Required: true, MaxLength: 16384},
				{Name: "priority", Type: ddl.String, Default: "normal", Enum: []string{"low", "normal", "high", "critical"}},
			},
			Outputs: []ddl.Output{
				{Name: "recipient", Type: ddl.String},
				{Name: "channels", Type: ddl.List, Description: "the channels delivered to"},
				{Name: "delivered_by", Type: ddl.String, Description: "the node that delivered it"},
				{Name: "duplicate", Type: ddl.Boolean, Description: "true when another node had already delivered this request"},
			}},
			(*Handler).notify),
	)
}

// notifyInput is the input of notify.
type notifyInput struct {
	Recipient string `json:"recipient"`
	Subject   string `json:"subject"`
	Message   string `json:"message"`
	Priority  string `json:"priority"`
}

type webhookConfig struct {
	URL      string            `hcl:"url"`
	Headers  map[string]string `hcl:"headers,optional"`
	Template string            `hcl:"template,optional"`
	Timeout  string            `hcl:"timeout,optional"`
}

type emailConfig struct {
	SMTP     string   `hcl:"smtp"` // host:port
	From     string   `hcl:"from"`
	To       []string `hcl:"to"`
	Username string   `hcl:"username,optional"`
	Password string   `hcl:"password,optional"`
	// StartTLS: "auto" (when offered; the default), "always", "never".
	StartTLS string `hcl:"starttls,optional"`
	// CAFile holds PEM certificates to trust for the server's certificate
	// (a private CA); default: the system's roots.
	CAFile string `hcl:"ca_file,optional"`
}

type fileConfig struct {
	Path string `hcl:"path"`
}

type recipientConfig struct {
	Name    string          `hcl:"name,label"`
	Webhook []webhookConfig `hcl:"webhook,block"`
	Email   []emailConfig   `hcl:"email,block"`
	File    []fileConfig    `hcl:"file,block"`
}

type config struct {
	Recipients []recipientConfig `hcl:"recipient,block"`
	// DedupTTL is how long delivered request ids are remembered; default 24h.
	DedupTTL string `hcl:"dedup_ttl,optional"`
}

// channel delivers one notification one way.
type channel interface {
	name() string
	deliver(ctx context.Context, n *Notification) error
}

// Notification is what templates and the file channel see.
type Notification struct {
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	Message   string    `json:"message"`
	Priority  string    `json:"priority"`
	Node      string    `json:"node"`
	RequestID string    `json:"request_id"`
	Caller    string    `json:"caller"`
	Time      time.Time `json:"time"`
}

// New decodes the provider block.
func New(body hcl.Body, env providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	fail := func(format string, args ...any) (rpc.Handler, hcl.Diagnostics) {
		return nil, providers.Invalid(body, "Invalid angelia config", format, args...)
	}
	h := &Handler{env: env, actions: actions(), recipients: map[string][]channel{}, ttl: 24 * time.Hour}
	if c.DedupTTL != "" {
		d, err := time.ParseDuration(c.DedupTTL)
		if err != nil || d <= 0 {
			return fail("dedup_ttl %q is not a positive duration.", c.DedupTTL)
		}
		h.ttl = d
	}
	for _, r := range c.Recipients {
		if _, dup := h.recipients[r.Name]; dup {
			return fail("recipient %q is declared twice.", r.Name)
		}
		var chans []channel
		for _, w := range r.Webhook {
			wc := &webhook{cfg: w, timeout: 10 * time.Second}
			if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
				return fail("recipient %s: webhook url %q must be http(s).", r.Name, w.URL)
			}
			if w.Timeout != "" {
				d, err := time.ParseDuration(w.Timeout)
				if err != nil || d <= 0 {
					return fail("recipient %s: webhook timeout %q is not a positive duration.", r.Name, w.Timeout)
				}
				wc.timeout = d
			}
			if w.Template != "" {
				t, err := template.New("body").Funcs(template.FuncMap{"json": jsonString}).Parse(w.Template)
				if err != nil {
					return fail("recipient %s: webhook template: %v", r.Name, err)
				}
				wc.tmpl = t
			}
			chans = append(chans, wc)
		}
		for _, e := range r.Email {
			if e.StartTLS == "" {
				e.StartTLS = "auto"
			}
			if e.StartTLS != "auto" && e.StartTLS != "always" && e.StartTLS != "never" {
				return fail("recipient %s: starttls must be auto, always or never.", r.Name)
			}
			if _, _, err := net.SplitHostPort(e.SMTP); err != nil {
				return fail("recipient %s: smtp %q must be host:port.", r.Name, e.SMTP)
			}
			if len(e.To) == 0 {
				return fail("recipient %s: email needs at least one address in to.", r.Name)
			}
			em := &email{cfg: e}
			if e.CAFile != "" {
				pem, err := os.ReadFile(e.CAFile)
				if err != nil {
					return fail("recipient %s: reading ca_file: %v", r.Name, err)
				}
				em.roots = x509.NewCertPool()
				if !em.roots.AppendCertsFromPEM(pem) {
					return fail("recipient %s: ca_file %s holds no PEM certificate.", r.Name, e.CAFile)
				}
			}
			chans = append(chans, em)
		}
		for _, f := range r.File {
			if !filepath.IsAbs(f.Path) {
				return fail("recipient %s: file path %q must be absolute.", r.Name, f.Path)
			}
			chans = append(chans, &file{path: f.Path})
		}
		if len(chans) == 0 {
			return fail("recipient %s has no channel (webhook, email or file).", r.Name)
		}
		h.recipients[r.Name] = chans
	}
	return h, nil
}

// Handler serves the angelia agent.
type Handler struct {
	env        providers.Env
	actions    *action.Table[*Handler]
	recipients map[string][]channel
	ttl        time.Duration

	kvMu sync.Mutex
	kv   jetstream.KeyValue
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Handle runs an action.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.actions.Handle(ctx, h, c)
}

// claim is the value kept per request id.
type claim struct {
	State string    `json:"state"` // delivering or delivered
	Node  string    `json:"node"`
	At    time.Time `json:"at"`
}

// staleClaim is how long a "delivering" claim by another node is honoured
// before this node takes over (that node died mid-way).
const staleClaim = 30 * time.Second

// notify delivers a notification once per request id.
func (h *Handler) notify(ctx context.Context, c *rpc.Call, in *notifyInput) (*rpc.Result, error) {
	n := &Notification{
		Recipient: in.Recipient, Subject: in.Subject, Message: in.Message, Priority: in.Priority,
		Node: h.env.Identity, RequestID: c.RequestID, Caller: c.CallerName, Time: time.Now().UTC(),
	}
	chans, ok := h.recipients[n.Recipient]
	if !ok {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "no recipient %q is configured on this node (recipients: %s)", n.Recipient, strings.Join(slices.Sorted(maps.Keys(h.recipients)), ", "))
	}
	names := make([]string, len(chans))
	for i, ch := range chans {
		names[i] = ch.name()
	}
	data := map[string]any{"recipient": n.Recipient, "channels": names, "delivered_by": h.env.Identity, "duplicate": false}
	if c.NoOp {
		return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("would notify %s via %s", n.Recipient, strings.Join(names, ", "))}, nil
	}
	kv, err := h.bucket(ctx)
	if err != nil {
		return nil, fleet.Errorf(fleet.StatusAborted, "opening the delivery log: %v", err)
	}
	var rev uint64
	if kv != nil && c.RequestID != "" {
		var dup *claim
		rev, dup, err = h.claim(ctx, kv, c.RequestID)
		if err != nil {
			return nil, err
		}
		if dup != nil {
			data["duplicate"], data["delivered_by"] = true, dup.Node
			return &rpc.Result{Data: data, Message: fmt.Sprintf("already delivered by %s at %s", dup.Node, dup.At.Format(time.RFC3339))}, nil
		}
	}
	var errs []string
	for _, ch := range chans {
		if err := ch.deliver(ctx, n); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", ch.name(), err))
		}
	}
	if len(errs) > 0 {
		if kv != nil && rev != 0 {
			// Release the claim so that the next notifier may try.
			dctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = kv.Delete(dctx, key(c.RequestID), jetstream.LastRevision(rev))
			cancel()
		}
		return nil, fleet.Errorf(fleet.StatusAborted, "delivery to %s failed: %s", n.Recipient, strings.Join(errs, "; "))
	}
	if kv != nil && rev != 0 {
		b, _ := json.Marshal(claim{State: "delivered", Node: h.env.Identity, At: time.Now().UTC()})
		if _, err := kv.Update(ctx, key(c.RequestID), b, rev); err != nil && h.env.Logger != nil {
			h.env.Logger.Warn("recording a delivery", "request", c.RequestID, "err", err)
		}
	}
	return &rpc.Result{Changed: true, Data: data, Message: fmt.Sprintf("notified %s via %s", n.Recipient, strings.Join(names, ", "))}, nil
}

// claim takes the request id for this node. It returns the claim's revision,
// or the claim of the node that already delivered it.
func (h *Handler) claim(ctx context.Context, kv jetstream.KeyValue, id string) (uint64, *claim, error) {
	mine, _ := json.Marshal(claim{State: "delivering", Node: h.env.Identity, At: time.Now().UTC()})
	deadline := time.Now().Add(staleClaim)
	for {
		rev, err := kv.Create(ctx, key(id), mine)
		if err == nil {
			return rev, nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, nil, fleet.Errorf(fleet.StatusAborted, "claiming the notification: %v", err)
		}
		e, err := kv.Get(ctx, key(id))
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // released meanwhile
		}
		if err != nil {
			return 0, nil, fleet.Errorf(fleet.StatusAborted, "reading the delivery log: %v", err)
		}
		var cl claim
		_ = json.Unmarshal(e.Value(), &cl)
		if cl.State == "delivered" {
			return 0, &cl, nil
		}
		// Another node is delivering (or died doing so): wait for it, then
		// take over a stale claim.
		if time.Since(cl.At) > staleClaim || time.Now().After(deadline) {
			rev, err := kv.Update(ctx, key(id), mine, e.Revision())
			if err == nil {
				return rev, nil, nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return 0, nil, fleet.Errorf(fleet.StatusAborted, "waiting for %s, which is delivering this notification", cl.Node)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bucket opens the delivery log bucket, once; nil without a broker.
func (h *Handler) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	h.kvMu.Lock()
	defer h.kvMu.Unlock()
	if h.kv != nil {
		return h.kv, nil
	}
	if h.env.Conn == nil || h.env.Conn() == nil {
		return nil, nil
	}
	// File storage with replicas following the cluster: a delivery log
	// lost with a broker would let a retried notification go out twice.
	kv, err := rpc.EnsureBucket(ctx, h.env.Conn(), jetstream.KeyValueConfig{Bucket: h.env.Collective + "_angelia", Description: "angelia deliveries by request id", History: 1, TTL: h.ttl})
	if err != nil {
		return nil, fmt.Errorf("opening the delivery log: %w", err)
	}
	h.kv = kv
	return kv, nil
}

func key(id string) string { return "req." + rpc.KVKey(id) }

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// webhook POSTs a JSON body.
type webhook struct {
	cfg     webhookConfig
	tmpl    *template.Template
	timeout time.Duration
}

func (w *webhook) name() string { return "webhook" }

func (w *webhook) deliver(ctx context.Context, n *Notification) error {
	var body []byte
	if w.tmpl != nil {
		var b bytes.Buffer
		if err := w.tmpl.Execute(&b, n); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		body = b.Bytes()
	} else {
		body, _ = json.Marshal(n)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", n.RequestID)
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", w.cfg.URL, resp.Status)
	}
	return nil
}

// email sends over SMTP.
type email struct {
	cfg   emailConfig
	roots *x509.CertPool // nil: the system's
}

func (e *email) name() string { return "email" }

func (e *email) deliver(ctx context.Context, n *Notification) error {
	host, _, _ := net.SplitHostPort(e.cfg.SMTP)
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", e.cfg.SMTP)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && e.cfg.StartTLS != "never" {
		if err := c.StartTLS(&tls.Config{ServerName: host, RootCAs: e.roots, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	} else if e.cfg.StartTLS == "always" {
		return errors.New("the server does not offer STARTTLS")
	}
	if e.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.cfg.Username, e.cfg.Password, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(e.cfg.From); err != nil {
		return err
	}
	for _, to := range e.cfg.To {
		if err := c.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	subject := strings.NewReplacer("\r", " ", "\n", " ").Replace(n.Subject)
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: [%s] %s\r\nDate: %s\r\nMessage-ID: <%s@orch>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		e.cfg.From, strings.Join(e.cfg.To, ", "), n.Priority, subject, n.Time.Format(time.RFC1123Z), key(n.RequestID), strings.ReplaceAll(n.Message, "\n", "\r\n"))
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// file appends a JSON line.
type file struct {
	path string
	mu   sync.Mutex
}

func (f *file) name() string { return "file" }

func (f *file) deliver(_ context.Context, n *Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(n)
	fh, err := os.OpenFile(f.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fh.Write(append(b, '\n')); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
