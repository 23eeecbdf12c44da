# health.hcl: check a cluster's web nodes answer and their load is fine.
#
#   orch apply examples/playbooks/health.hcl -var cluster=alfa

variable "cluster" {
  type        = string
  description = "the cluster to check"
  validation {
    condition     = contains(["alfa", "bravo"], var.cluster)
    error_message = "cluster must be alfa or bravo"
  }
}

variable "load_timeout" {
  type    = string
  default = "100s"
}

nodes "web" {
  fact = { cluster = var.cluster }
  min  = 1
}

resource "rpcutil_ping" "web" {
  targets = nodes.web
}

resource "nrpe_check" "load" {
  targets = nodes.web
  command = "check_load"
  retry {
    timeout  = var.load_timeout
    interval = "5s"
  }
  depends_on = [rpcutil_ping.web]
}

resource "rpc" "disk" {
  targets    = nodes.web
  agent      = "nrpe"
  action     = "run"
  inputs     = { command = "check_disk" }
  expect     = reply.data.exitcode <= 1 # OK or WARNING
  fail_ok    = true
  depends_on = [rpcutil_ping.web]
}
