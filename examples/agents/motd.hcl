# motd.hcl: the example external agents (agents.d/ beside this file, one in
# shell, one in Python) called from a playbook. Because agents.d/ sits
# beside the playbook, motd_set and ini_set read like built-in types and
# `orch validate` checks their arguments against the schemas offline; the
# generic rpc type reaches any action too (docs/agents.md).
#
#   orch apply examples/agents/motd.hcl -var message="Welcome to $(hostname)"
#
# The nodes need the agents installed in their agents_dir (by default
# /etc/orch/agents.d): install -d agents.d/motd, then install -m 0755 the
# executable and -m 0644 the schema, and send the agent SIGHUP.

variable "message" {
  type    = string
  default = "This machine is managed by orch."
}

variable "motd_path" {
  type    = string
  default = "/etc/motd"
}

variable "settings" {
  type    = string
  default = "/etc/orch-example.ini"
}

nodes "motd" {
  agent = "motd"
  min   = 1
}

resource "motd_set" "banner" {
  targets = nodes.motd
  content = var.message
  path    = var.motd_path
}

resource "ini_set" "owner" {
  targets = nodes.motd
  file    = var.settings
  section = "motd"
  key     = "owner"
  value   = "orch"
}

resource "rpc" "owner_check" {
  targets    = nodes.motd
  agent      = "ini"
  action     = "get"
  inputs     = { file = var.settings, section = "motd", key = "owner" }
  expect     = reply.data.value == "orch"
  depends_on = [ini_set.owner, motd_set.banner]
}
