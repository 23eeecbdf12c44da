# /etc/orch/node.hcl: the orch agent's config (docs/agent.md lists every
# setting). The package keeps your changes to this file on upgrade.
#
# Before starting the agent (systemctl enable --now orch-agent):
#   1. point "servers" at your brokers;
#   2. trust at least one client key (a "client" block below): until then
#      the agent refuses every request;
#   3. check it:  orch agent --config /etc/orch/node.hcl --check

# The node's name in the fleet. Default: the hostname (no dots allowed).
# identity = "web1"

# Subject prefix; clients must use the same.
collective = "orch"

# Every broker of the cluster, so the node can fail over.
servers = ["nats://127.0.0.1:4222"]

# State of the node and its providers: the node key (created on first start
# unless key_file is set), releases, delivery records. The unit lets the
# agent write here and in /var/log/orch only (see orch-agent.service).
data_dir = "/var/lib/orch"

# The node's own nkey seed; default: /var/lib/orch/node.nk, created on
# first start.
# key_file = "/etc/orch/node.nk"   # orch keygen --out /etc/orch/node.nk

# JSON-lines audit log: one line per request.
audit_log = "/var/log/orch/audit.jsonl"

# Facts and classes select nodes in filters and playbooks.
facts = {
  # cluster = "alfa"
  # role    = "web"
}
# facts_file = "/etc/orch/facts.yaml"   # re-read on systemctl reload orch-agent
classes = []

# System facts (os.family, kernel.release, networking.ip, ... listed in
# docs/agent.md) are collected at start, every 5 minutes and on reload,
# with the facts of /etc/orch/facts.d (YAML, JSON or key=value files, and
# executables printing JSON or key=value lines) over them; the facts above
# override both.
# system_facts {
#   dir     = "/etc/orch/facts.d"
#   refresh = "5m"
#   timeout = "10s"   # per facts.d executable
# }

# Trusted clients: the public key that `orch keygen --out client.nk` prints.
# client "ops" {
#   key = "U..."
# }

# Who may call what; without a policy block every trusted client may call
# every action.
# policy {
#   default = "deny"
#   rule "allow" {
#     clients = ["ops"]
#     actions = ["*"]
#   }
# }

# Providers (docs/providers.md); rpcutil is always enabled.
# provider "haproxy" {
#   socket = "/run/haproxy/admin.sock"
# }
# provider "nrpe" {
#   config_files = ["/etc/nagios/nrpe.cfg"]
# }
