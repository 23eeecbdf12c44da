# Upgrade the orch agent itself across the fleet: a canary, then growing
# batches; the next batch starts only when every node of the previous one
# installed the new package and its agent answers again.
#
#   orch plan  examples/playbooks/upgrade-agents.hcl -var version=1.3.0
#   orch apply examples/playbooks/upgrade-agents.hcl -var version=1.3.0
#
# Before: copy orch_VERSION_ARCH.deb into deb_dir on every node (a
# directory the node's provider "package" { deb_dirs = [...] } lists), and
# give the agent's unit the drop-in that lets it install packages. See
# docs/operations.md, "Upgrading the agents with orch".

variable "version" {
  type        = string
  description = "the orch version to install, as in the package's file name: 1.3.0"
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "the nodes' architecture (fact os.arch) and the package's: amd64 or arm64; run once per architecture"
}

variable "deb_dir" {
  type        = string
  default     = "/var/cache/orch"
  description = "where the .deb files are on the nodes"
}

nodes "agents" {
  agent = "package"
  fact  = { "os.arch" = var.arch }
  min   = 1
}

module "upgrade" {
  source  = "./modules/upgrade-agent"
  servers = rollout.batch
  version = var.version
  deb     = "${var.deb_dir}/orch_${var.version}_${var.arch}.deb"
  rollout {
    nodes      = nodes.agents
    batches    = [1, "25%", "50%"] # a canary, then a quarter, then halves
    pause      = "10s"
    max_failed = 0
  }
}
