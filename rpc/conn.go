package rpc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnSecurity says how a connection to the brokers is encrypted and
// authenticated. The CLI (flags, environment, client config file), the
// agent config and the SDK all fill it, under the same names (the agent
// config and client config key is given with each field). File paths are
// used as they are.
type ConnSecurity struct {
	// TLSCA is a PEM file of the CAs that sign the brokers' certificates
	// (tls_ca); "" = the system's roots. Setting it makes TLS required.
	TLSCA string
	// TLSCert and TLSKey are a PEM client certificate and its key for
	// brokers that verify clients (mTLS) (tls_cert, tls_key).
	TLSCert, TLSKey string
	// Creds is a NATS .creds file (user JWT and nkey seed) for brokers run
	// in operator mode (broker_creds).
	Creds string
	// NkeyFile is an nkey seed file (orch keygen) to authenticate with to a
	// broker that lists nkey users, such as one configured by orch broker
	// gen-auth (broker_nkey_file).
	NkeyFile string
	// User and PasswordFile authenticate with a user name and the password
	// held in a file (broker_user, broker_password_file). Password is the
	// password itself, for the agent's older broker_password setting.
	User, Password, PasswordFile string
	// InboxPrefix replaces "_INBOX" as the prefix of the connection's reply
	// subjects; the agent sets NodeInboxPrefix so that the broker can
	// confine a node to its own replies.
	InboxPrefix string
}

// NodeInboxPrefix is the prefix of the reply subjects of the agent of
// identity: orch broker gen-auth lets a node subscribe to these only.
func NodeInboxPrefix(collective, identity string) string {
	return "_INBOX." + collective + ".node." + identity
}

// Options are the nats.go options s asks for; an inconsistent s (a
// certificate without its key, two kinds of credentials, a user without a
// password) or an unreadable file is an error naming the setting.
func (s ConnSecurity) Options() ([]nats.Option, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	if s.TLSCA != "" {
		opts = append(opts, nats.RootCAs(s.TLSCA))
	}
	if s.TLSCert != "" {
		opts = append(opts, nats.ClientCert(s.TLSCert, s.TLSKey))
	}
	switch {
	case s.Creds != "":
		if _, err := os.Stat(s.Creds); err != nil {
			return nil, fmt.Errorf("broker_creds: %w", err)
		}
		opts = append(opts, nats.UserCredentials(s.Creds))
	case s.NkeyFile != "":
		kp, err := LoadKey(s.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("broker_nkey_file: %w", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("broker_nkey_file %s: %w", s.NkeyFile, err)
		}
		opts = append(opts, nats.Nkey(pub, kp.Sign))
	case s.User != "":
		pw := s.Password
		if s.PasswordFile != "" {
			b, err := os.ReadFile(s.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("broker_password_file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		opts = append(opts, nats.UserInfo(s.User, pw))
	}
	if s.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(s.InboxPrefix))
	}
	return opts, nil
}

// check refuses settings that cannot work together.
func (s ConnSecurity) check() error {
	kinds := 0
	for _, set := range []bool{s.Creds != "", s.NkeyFile != "", s.User != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case (s.TLSCert == "") != (s.TLSKey == ""):
		return errors.New("tls_cert and tls_key go together: set both (the client certificate and its key) or neither")
	case kinds > 1:
		return errors.New("set one kind of broker credentials: broker_creds, broker_nkey_file, or broker_user with broker_password_file")
	case s.User == "" && (s.Password != "" || s.PasswordFile != ""):
		return errors.New("a broker password needs broker_user")
	case s.Password != "" && s.PasswordFile != "":
		return errors.New("set broker_password or broker_password_file, not both")
	case s.User != "" && s.Password == "" && s.PasswordFile == "":
		return errors.New("broker_user needs broker_password_file")
	}
	return nil
}

// Connect connects to the brokers (any of servers), reconnecting forever
// when the connection drops. opts are added after orch's defaults (for
// broker credentials and TLS: see ConnSecurity). Errors never show the
// credentials of a URL, and say which setting fixes a TLS or
// authentication failure.
func Connect(ctx context.Context, servers []string, name string, opts ...nats.Option) (*nats.Conn, error) {
	if len(servers) == 0 {
		servers = []string{nats.DefaultURL}
	}
	all := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(false),
		nats.Timeout(5 * time.Second),
	}, opts...)
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(strings.Join(servers, ","), all...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, connectError(servers, r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, connectError(servers, ctx.Err())
	}
}

// connectError is err of connecting to servers: with the URLs redacted
// (also inside err's text) and a hint naming the setting that fixes it.
func connectError(servers []string, err error) error {
	msg := "connecting to " + RedactURLs(servers) + ": " + err.Error()
	if h := connectHint(err); h != "" {
		msg += " (" + h + ")"
	}
	return &redactedError{msg: redactSecrets(msg, servers), err: err}
}

// redactedError carries err for errors.Is/As but prints msg, from which
// credentials were removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// connectHint names the setting that fixes a failed connection, or "".
func connectHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	msg := err.Error()
	switch {
	case errors.As(err, &unknownCA) || strings.Contains(msg, "certificate signed by unknown authority"):
		return "the broker's certificate is signed by a CA this client does not trust: set tls_ca (flag --tls-ca, env ORCH_TLS_CA) to that CA's PEM file"
	case errors.As(err, &hostErr):
		return "the broker's certificate is not valid for the host name in the URL: connect with a name the certificate holds"
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate"):
		return "the broker verifies client certificates: set tls_cert and tls_key (flags --tls-cert/--tls-key, env ORCH_TLS_CERT/ORCH_TLS_KEY)"
	case strings.Contains(msg, "closed by remote after TLS handshake"):
		// TLS 1.3: the broker's alert may be lost when it closes at once.
		return "the broker closed the connection after the TLS handshake; if it verifies client certificates, set tls_cert and tls_key (flags --tls-cert/--tls-key, env ORCH_TLS_CERT/ORCH_TLS_KEY) to one signed by its CA"
	case errors.Is(err, nats.ErrSecureConnRequired):
		return "the broker requires TLS: set tls_ca (flag --tls-ca, env ORCH_TLS_CA), or use a tls:// URL"
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || strings.Contains(msg, "Authorization Violation"):
		return "the broker refused this client's credentials: set broker_nkey_file (flag --broker-nkey, env ORCH_BROKER_NKEY), broker_creds, or broker_user and broker_password_file"
	}
	return ""
}

// RedactURL is u without its credentials (user, password or token):
// nats://alice:secret@host:4222 becomes nats://***@host:4222.
func RedactURL(u string) string {
	at := strings.LastIndexByte(u, '@')
	if at < 0 {
		return u
	}
	if p, err := url.Parse(u); err == nil && p.User != nil {
		return p.Scheme + "://***@" + p.Host + p.EscapedPath()
	}
	scheme := ""
	if i := strings.Index(u, "://"); i >= 0 && i < at {
		scheme = u[:i+3]
	}
	return scheme + "***" + u[at:]
}

// RedactURLs is RedactURL of each URL, comma-separated.
func RedactURLs(servers []string) string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = RedactURL(s)
	}
	return strings.Join(out, ",")
}

// redactSecrets removes from msg the user information of every URL of
// servers, and its password or token alone, raw and decoded (an error from
// below may quote any of them).
func redactSecrets(msg string, servers []string) string {
	for _, s := range servers {
		at := strings.LastIndexByte(s, '@')
		if at < 0 {
			continue
		}
		info := s[:at]
		if i := strings.Index(info, "://"); i >= 0 {
			info = info[i+3:]
		}
		// A password, or a token (user information without a colon).
		_, secret, ok := strings.Cut(info, ":")
		if !ok {
			secret = info
		}
		parts := []string{info, secret}
		if p, err := url.Parse(s); err == nil && p.User != nil {
			if dpw, has := p.User.Password(); has {
				parts = append(parts, dpw)
			} else {
				parts = append(parts, p.User.Username())
			}
		}
		for _, secret := range parts {
			if len(secret) >= 3 {
				msg = strings.ReplaceAll(msg, secret, "***")
			}
		}
	}
	return msg
}
