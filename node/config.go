package node

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/nats-io/nkeys"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"gopkg.in/yaml.v3"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/node/sysfacts"
	"github.com/orch-fleet/orch/rpc"
)

// Config is a node daemon's configuration, read from an HCL file. See
// docs/agent.md for every setting.
type Config struct {
	Identity   string   `hcl:"identity,optional"`
	Collective string   `hcl:"collective,optional"`
	Servers    []string `hcl:"servers,optional"`
	// KeyFile is the node's own nkey seed. Empty: a key is created in
	// DataDir/node.nk on first start.
	KeyFile string `hcl:"key_file,optional"`
	// Connection security, the same settings as the client's (see
	// rpc.ConnSecurity): broker credentials (one kind: user with a
	// password or password file, an nkey seed, or a .creds file) and TLS
	// (a CA to verify the brokers, a client certificate and key for mTLS).
	// Relative paths are relative to the config file.
	BrokerUser         string `hcl:"broker_user,optional"`
	BrokerPassword     string `hcl:"broker_password,optional"`
	BrokerPasswordFile string `hcl:"broker_password_file,optional"`
	BrokerNkeyFile     string `hcl:"broker_nkey_file,optional"`
	BrokerCreds        string `hcl:"broker_creds,optional"`
	TLSCA              string `hcl:"tls_ca,optional"`
	TLSCert            string `hcl:"tls_cert,optional"`
	TLSKey             string `hcl:"tls_key,optional"`

	DataDir     string    `hcl:"data_dir,optional"`
	AuditLog    string    `hcl:"audit_log,optional"`
	FactsInline cty.Value `hcl:"facts,optional"`
	FactsFile   string    `hcl:"facts_file,optional"`
	Classes     []string  `hcl:"classes,optional"`
	// SystemFacts configures built-in and facts.d facts (node/sysfacts).
	SystemFacts *sysfacts.Config `hcl:"system_facts,block"`
	// RegisterInterval is how often the node re-registers; RegistryTTL how
	// long an entry lives without renewal (used when the node creates the
	// bucket).
	RegisterInterval string `hcl:"register_interval,optional"`
	RegistryTTL      string `hcl:"registry_ttl,optional"`
	// Registry = false disables registration (broadcast discovery only).
	Registry *bool `hcl:"registry,optional"`
	// MetricsListen is the host:port of the agent's Prometheus endpoint
	// ("" = none); an address beyond loopback also needs
	// MetricsAllowRemote (internal/metrics.CheckListen, docs/operations.md).
	MetricsListen      string `hcl:"metrics_listen,optional"`
	MetricsAllowRemote bool   `hcl:"metrics_allow_remote,optional"`
	// AgentsDir holds the external agents (docs/agents.md); "" means
	// /etc/orch/agents.d. AgentsTimeout bounds each of their runs ("60s").
	AgentsDir     string `hcl:"agents_dir,optional"`
	AgentsTimeout string `hcl:"agents_timeout,optional"`

	Clients   []ClientBlock   `hcl:"client,block"`
	Policy    *PolicyBlock    `hcl:"policy,block"`
	Providers []ProviderBlock `hcl:"provider,block"`

	// Derived on load.
	path     string
	interval time.Duration
	ttl      time.Duration
	facts    map[string]any
}

// ClientBlock trusts one client key under a name.
type ClientBlock struct {
	Name string `hcl:"name,label"`
	Key  string `hcl:"key"`
}

// PolicyBlock is the action policy: rules are tried in order and the first
// that matches both the caller and the action decides; when none does,
// Default decides ("deny" unless set to "allow").
type PolicyBlock struct {
	Default string       `hcl:"default,optional"`
	Rules   []PolicyRule `hcl:"rule,block"`
}

// PolicyRule allows or denies callers (client names, or "*") the actions
// (agent.action patterns with * wildcards, e.g. "haproxy.*", "rpcutil.ping").
type PolicyRule struct {
	Effect  string   `hcl:"effect,label"`
	Clients []string `hcl:"clients"`
	Actions []string `hcl:"actions"`
}

// ProviderBlock enables one provider; its body is the provider's own
// settings.
type ProviderBlock struct {
	Name  string    `hcl:"name,label"`
	Body  hcl.Body  `hcl:",remain"`
	Range hcl.Range `hcl:",def_range"`
}

// Limits on what the agent reads at start and on SIGHUP: a config or
// facts file larger than this is refused rather than read into memory.
const (
	MaxConfigSize = 1 << 20 // bytes of the agent config file
	MaxFactsSize  = 4 << 20 // bytes of the facts file
)

// LoadConfig reads and checks a node configuration file.
func LoadConfig(path string) (*Config, hcl.Diagnostics) {
	src, err := readLimited(path, MaxConfigSize)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the agent config", Detail: err.Error()}}
	}
	return ParseConfig(src, path)
}

// ParseConfig is LoadConfig on the text of a config file; path is the
// name used in diagnostics and the base of relative paths.
func ParseConfig(src []byte, path string) (*Config, hcl.Diagnostics) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, diags
	}
	var c Config
	if d := gohcl.DecodeBody(f.Body, nil, &c); d.HasErrors() {
		return nil, d
	}
	c.path = path
	if c.Identity == "" {
		h, err := os.Hostname()
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No identity", Detail: "identity is not set and the hostname cannot be read: " + err.Error()})
			return nil, diags
		}
		c.Identity = h
	}
	if err := fleet.ValidateIdentity(c.Identity); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid identity", Detail: err.Error() + "."})
	}
	if c.Collective == "" {
		c.Collective = rpc.DefaultCollective
	}
	if len(c.Servers) == 0 {
		c.Servers = []string{"nats://127.0.0.1:4222"}
	}
	var err error
	if c.interval, err = parseDuration(c.RegisterInterval, 10*time.Second); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid register_interval", Detail: err.Error()})
	}
	if c.ttl, err = parseDuration(c.RegistryTTL, 3*c.interval); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid registry_ttl", Detail: err.Error()})
	}
	for _, cl := range c.Clients {
		if !nkeys.IsValidPublicUserKey(cl.Key) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid client key",
				Detail: fmt.Sprintf("client %q: %q is not an nkey user public key (it starts with U; orch keygen prints one).", cl.Name, cl.Key)})
		}
	}
	if c.Policy != nil {
		if d := c.Policy.check(); d != nil {
			diags = append(diags, d...)
		}
	}
	if !c.FactsInline.IsNull() && c.FactsInline != cty.NilVal {
		m, err := ctyToGo(c.FactsInline)
		if mm, ok := m.(map[string]any); err == nil && ok {
			c.facts = mm
		} else {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid facts", Detail: "facts must be an object, e.g. facts = { cluster = \"alfa\" }"})
		}
	}
	diags = append(diags, c.SystemFacts.Check(path)...) // system facts
	// external agents (external.go)
	diags = append(diags, c.checkAgents()...)
	if c.FactsFile != "" && !filepath.IsAbs(c.FactsFile) {
		c.FactsFile = filepath.Join(filepath.Dir(path), c.FactsFile)
	}
	diags = append(diags, c.checkConnection()...)
	if c.FactsFile != "" {
		if _, err := c.readFacts(); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read facts_file", Detail: err.Error()})
		}
	}
	return &c, diags
}

// checkConnection makes the connection settings' paths absolute and
// checks that they go together.
func (c *Config) checkConnection() hcl.Diagnostics {
	for _, p := range []*string{&c.BrokerPasswordFile, &c.BrokerNkeyFile, &c.BrokerCreds, &c.TLSCA, &c.TLSCert, &c.TLSKey} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(c.path), *p)
		}
	}
	if _, err := c.Security().Options(); err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid broker connection settings", Detail: err.Error()}}
	}
	return nil
}

// Security is the node's connection security: its settings, with reply
// subjects under rpc.NodeInboxPrefix, to which orch broker gen-auth
// confines the node.
func (c *Config) Security() rpc.ConnSecurity {
	return rpc.ConnSecurity{TLSCA: c.TLSCA, TLSCert: c.TLSCert, TLSKey: c.TLSKey, Creds: c.BrokerCreds,
		NkeyFile: c.BrokerNkeyFile, User: c.BrokerUser, Password: c.BrokerPassword, PasswordFile: c.BrokerPasswordFile,
		InboxPrefix: rpc.NodeInboxPrefix(c.Collective, c.Identity)}
}

// RedactedServers are the broker URLs without their credentials, for
// logs.
func (c *Config) RedactedServers() string { return rpc.RedactURLs(c.Servers) }

func (p *PolicyBlock) check() hcl.Diagnostics {
	var diags hcl.Diagnostics
	if p.Default != "" && p.Default != "allow" && p.Default != "deny" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid policy default", Detail: fmt.Sprintf("default = %q: want \"allow\" or \"deny\".", p.Default)})
	}
	for _, r := range p.Rules {
		if r.Effect != "allow" && r.Effect != "deny" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid policy rule", Detail: fmt.Sprintf("rule %q: the label must be \"allow\" or \"deny\".", r.Effect)})
		}
	}
	return diags
}

// Facts returns the node's facts: the facts file's values over the inline
// ones.
func (c *Config) Facts() (map[string]any, error) {
	facts := map[string]any{}
	for k, v := range c.facts {
		facts[k] = v
	}
	if c.FactsFile == "" {
		return facts, nil
	}
	file, err := c.readFacts()
	if err != nil {
		return nil, err
	}
	for k, v := range file {
		facts[k] = v
	}
	return facts, nil
}

// readFacts reads the facts file, YAML or JSON (JSON is YAML).
func (c *Config) readFacts() (map[string]any, error) {
	b, err := readLimited(c.FactsFile, MaxFactsSize)
	if err != nil {
		return nil, fmt.Errorf("reading facts file: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("facts file %s: %w", c.FactsFile, err)
	}
	// Round-trip through JSON so values have the types JSON gives them
	// (numbers as float64), as they will have on the wire.
	jb, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("facts file %s: %w", c.FactsFile, err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(jb, &out); err != nil {
		return nil, fmt.Errorf("facts file %s: %w", c.FactsFile, err)
	}
	return out, nil
}

func parseDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as \"10s\"", s)
	}
	return d, nil
}

func ctyToGo(v cty.Value) (any, error) {
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// readLimited reads a regular file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
