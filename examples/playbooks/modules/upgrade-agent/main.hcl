# One batch of an agent upgrade (../../upgrade-agents.hcl): install the
# package, then wait until the agent answers again on the new binary.
#
# No service_restart step: the package's postinst restarts a running agent
# itself (systemctl --no-block try-restart), after the install has replied.
# A restart of orch-agent.service requested through the agent could never
# be answered: systemctl restart waits for the agent to stop, and the agent
# waits for that request to finish.

variable "servers" {
  type = list(string)
}

variable "version" {
  type = string
}

variable "deb" {
  type = string
}

resource "package_install" "orch" {
  targets     = var.servers
  name        = "orch"
  version     = var.version
  source      = var.deb
  description = "install the new orch; its postinst restarts the agent"
}

resource "rpcutil_ping" "back" {
  targets     = var.servers
  depends_on  = [package_install.orch]
  description = "the agent is back, on the new binary"
  retry {
    attempts = 30
    interval = "3s"
    timeout  = "90s"
  }
}
