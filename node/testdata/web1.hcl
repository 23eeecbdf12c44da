# A complete node config: web1 of the webapp fleet.
identity   = "web1"
collective = "orch"
servers    = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"]

key_file  = "/etc/orch/node.nk"       # orch keygen --out /etc/orch/node.nk
data_dir  = "/var/lib/orch"
audit_log = "/var/log/orch/audit.jsonl"

facts = {
  cluster = "alfa"
  role    = "web"
  cpus    = 4
}
facts_file = "/etc/orch/facts.yaml"   # merged over the inline facts; re-read on SIGHUP
classes    = ["web", "webapp"]

system_facts {                        # built-in facts and facts.d: see "Facts" below
  dir     = "/etc/orch/facts.d"
  refresh = "5m"
}

register_interval = "10s"
registry_ttl      = "30s"

client "ops" {
  key = "UDJ3WCNXJHUV3SLWPESSLALLQT4RQXO4ETKIJNZRA6XUDXRRYXVL2EKJ"
}
client "monitoring" {
  key = "UCVR55LB4NMRPRITZYY3OBG5Z2N3KVF6QRYWPXY5TYHBOYNO56L2FF2M"
}

policy {
  default = "deny"
  rule "allow" {
    clients = ["ops"]
    actions = ["*"]
  }
  rule "allow" {
    clients = ["monitoring"]
    actions = ["rpcutil.*", "nrpe.run"]
  }
}

provider "rpcutil" {}
