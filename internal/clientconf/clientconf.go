// Package clientconf resolves a client's connection settings from, in
// increasing priority, defaults, the client config file
// (~/.config/orch/client.hcl, else /etc/orch/client.hcl), the environment
// and command-line flags, remembering where each value came from.
//
//	cfg, err := clientconf.Resolve(clientconf.Sources{Getenv: os.Getenv, Flags: set})
//	nc, err := rpc.Connect(ctx, cfg.Servers(), name, opts...) // opts from cfg.Security().Options()
package clientconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-fleet/orch/rpc"
)

// Key is one setting: its name in the config file, its environment
// variable and flag.
type Key struct {
	Name, Env, Flag string
	// Default is the value when nothing sets it.
	Default string
	// Path values in the config file are relative to the file's folder.
	Path bool
	// Help says what it is.
	Help string
}

// Names of the keys.
const (
	Servers      = "servers"
	SigningKey   = "key"
	Collective   = "collective"
	TLSCA        = "tls_ca"
	TLSCert      = "tls_cert"
	TLSKey       = "tls_key"
	Creds        = "broker_creds"
	Nkey         = "broker_nkey_file"
	User         = "broker_user"
	PasswordFile = "broker_password_file"
)

// Keys returns every setting, in display order.
func Keys() []Key {
	return []Key{
		{Name: Servers, Env: "ORCH_SERVER", Flag: "server", Default: "nats://127.0.0.1:4222", Help: "broker URLs (a list in the file, comma-separated in env and flag)"},
		{Name: SigningKey, Env: "ORCH_KEY", Flag: "key", Path: true, Help: "client nkey seed file that signs requests (orch keygen)"},
		{Name: Collective, Env: "ORCH_COLLECTIVE", Flag: "collective", Default: rpc.DefaultCollective, Help: "collective (subject prefix)"},
		{Name: TLSCA, Env: "ORCH_TLS_CA", Flag: "tls-ca", Path: true, Help: "PEM file of the CA that signs the brokers' certificates"},
		{Name: TLSCert, Env: "ORCH_TLS_CERT", Flag: "tls-cert", Path: true, Help: "PEM client certificate, for brokers that verify clients (mTLS)"},
		{Name: TLSKey, Env: "ORCH_TLS_KEY", Flag: "tls-key", Path: true, Help: "PEM key of tls_cert"},
		{Name: Creds, Env: "ORCH_BROKER_CREDS", Flag: "broker-creds", Path: true, Help: "NATS .creds file (operator-mode brokers)"},
		{Name: Nkey, Env: "ORCH_BROKER_NKEY", Flag: "broker-nkey", Path: true, Help: "nkey seed file to authenticate to the broker (orch broker gen-auth users)"},
		{Name: User, Env: "ORCH_BROKER_USER", Flag: "broker-user", Help: "broker user name"},
		{Name: PasswordFile, Env: "ORCH_BROKER_PASSWORD_FILE", Flag: "broker-password-file", Path: true, Help: "file holding the broker user's password"},
	}
}

// ConfigEnv names a client config file to read instead of searching; "none"
// reads none.
const ConfigEnv = "ORCH_CLIENT_CONFIG"

// SystemFile is the system-wide client config file.
const SystemFile = "/etc/orch/client.hcl"

// Setting is one effective value and where it came from: "default",
// "file PATH:LINE", "env NAME" or "flag --NAME".
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Sources are what Resolve reads.
type Sources struct {
	// Getenv reads the environment (also HOME, XDG_CONFIG_HOME and
	// ORCH_CLIENT_CONFIG).
	Getenv func(string) string
	// Flags are the flags set on the command line, by flag name.
	Flags map[string]string
	// Files are the config files to try, in order, the first existing one
	// being read; nil = Candidates(Getenv).
	Files []string
}

// Config is the resolved settings.
type Config struct {
	// File is the config file read, "" if none.
	File     string
	settings map[string]Setting
}

// Candidates are the config files a client tries: $ORCH_CLIENT_CONFIG
// alone when set, else ~/.config/orch/client.hcl ($XDG_CONFIG_HOME when
// set) then /etc/orch/client.hcl.
func Candidates(getenv func(string) string) []string {
	if f := getenv(ConfigEnv); f != "" {
		if f == "none" {
			return []string{}
		}
		return []string{f}
	}
	var out []string
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		out = append(out, filepath.Join(x, "orch", "client.hcl"))
	} else if h := getenv("HOME"); h != "" {
		out = append(out, filepath.Join(h, ".config", "orch", "client.hcl"))
	}
	return append(out, SystemFile)
}

// Resolve reads the sources: flags override the environment, which
// overrides the config file, which overrides the defaults.
func Resolve(s Sources) (*Config, error) {
	files := s.Files
	if files == nil {
		files = Candidates(s.Getenv)
	}
	c := &Config{settings: map[string]Setting{}}
	for _, k := range Keys() {
		if k.Default != "" {
			c.settings[k.Name] = Setting{Key: k.Name, Value: k.Default, Source: "default"}
		}
	}
	for _, f := range files {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := c.readFile(f, s.Getenv); err != nil {
			return nil, err
		}
		break
	}
	for _, k := range Keys() {
		if v := s.Getenv(k.Env); v != "" {
			c.settings[k.Name] = Setting{Key: k.Name, Value: v, Source: "env " + k.Env}
		}
		if v, ok := s.Flags[k.Flag]; ok {
			c.settings[k.Name] = Setting{Key: k.Name, Value: v, Source: "flag --" + k.Flag}
		}
	}
	return c, nil
}

// readFile reads the settings of the config file path.
func (c *Config) readFile(path string, getenv func(string) string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the client config: %w", err)
	}
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return diags
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return diags
	}
	keys := map[string]Key{}
	for _, k := range Keys() {
		keys[k.Name] = k
	}
	for name, a := range attrs {
		k, ok := keys[name]
		if !ok {
			return attrErr(a, fmt.Sprintf("unknown setting %q; known: %s", name, strings.Join(names(), ", ")))
		}
		v, err := attrValue(a, k.Name == Servers)
		if err != nil {
			return err
		}
		if k.Path && v != "" {
			v = resolvePath(v, filepath.Dir(path), getenv("HOME"))
		}
		c.settings[name] = Setting{Key: name, Value: v, Source: fmt.Sprintf("file %s:%d", path, a.Range.Start.Line)}
	}
	c.File = path
	return nil
}

// attrValue is a string, or for a list a comma-separated string.
func attrValue(a *hcl.Attribute, list bool) (string, error) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	switch {
	case v.Type() == cty.String && !v.IsNull():
		return v.AsString(), nil
	case list && (v.Type().IsTupleType() || v.Type().IsListType()) && v.IsKnown() && !v.IsNull():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() != cty.String || e.IsNull() {
				return "", attrErr(a, "want a list of strings")
			}
			out = append(out, e.AsString())
		}
		return strings.Join(out, ","), nil
	case list:
		return "", attrErr(a, "want a list of URLs, e.g. [\"tls://broker1:4222\"]")
	}
	return "", attrErr(a, "want a string")
}

func attrErr(a *hcl.Attribute, detail string) error {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid client config", Detail: detail, Subject: a.Range.Ptr()}}
}

func names() []string {
	var out []string
	for _, k := range Keys() {
		out = append(out, k.Name)
	}
	return out
}

// resolvePath expands ~/ and makes p relative to dir absolute.
func resolvePath(p, dir, home string) string {
	if strings.HasPrefix(p, "~/") && home != "" {
		return filepath.Join(home, p[2:])
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Get is the value of the setting name ("" if unset).
func (c *Config) Get(name string) string { return c.settings[name].Value }

// Servers are the broker URLs.
func (c *Config) Servers() []string { return strings.Split(c.Get(Servers), ",") }

// Security is the TLS and credential settings.
func (c *Config) Security() rpc.ConnSecurity {
	return rpc.ConnSecurity{TLSCA: c.Get(TLSCA), TLSCert: c.Get(TLSCert), TLSKey: c.Get(TLSKey),
		Creds: c.Get(Creds), NkeyFile: c.Get(Nkey), User: c.Get(User), PasswordFile: c.Get(PasswordFile)}
}

// Settings are every setting, in Keys order, credentials redacted (the
// user information of URLs): what orch config shows. Unset ones have
// Source "".
func (c *Config) Settings() []Setting {
	var out []Setting
	for _, k := range Keys() {
		s, ok := c.settings[k.Name]
		if !ok {
			s = Setting{Key: k.Name}
		}
		if k.Name == Servers {
			s.Value = rpc.RedactURLs(strings.Split(s.Value, ","))
		}
		out = append(out, s)
	}
	return out
}
