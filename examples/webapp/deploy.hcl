# The rolling upgrade of one cluster of the webapp: docs/tutorial.md walks
# through it line by line. Each batch of web nodes goes through the whole
# chain (out of the load balancer, deploy, load check, back in) before the
# next batch starts: a canary first, then growing batches, so the cluster
# keeps serving throughout. deploy-classic.hcl is the 2012 form (the whole
# cluster out at once).
#
#   orch apply examples/webapp/deploy.hcl -var cluster=alfa -var revision=v2

variable "cluster" {
  type        = string
  description = "the cluster to upgrade"
  validation {
    condition     = contains(["alfa", "bravo"], var.cluster)
    error_message = "cluster must be alfa or bravo"
  }
}

variable "revision" {
  type        = string
  default     = "main"
  description = "git branch, tag or commit to deploy"
}

variable "batches" {
  type        = list(string)
  default     = ["1", "50%", "100%"]
  description = "batch sizes, nodes or percentages of the cluster: the canary first; the last one repeats"
}

variable "max_failed" {
  type        = string
  default     = "0"
  description = "how many nodes (or what percentage) may fail before no new batch starts"
}

variable "load_timeout" {
  type        = string
  default     = "100s"
  description = "how long the load check may take to pass after the deploy"
}

variable "load_interval" {
  type    = string
  default = "5s"
}

variable "recipient" {
  type    = string
  default = "ops"
}

# Two runs against the same cluster never interleave.
lock = "webapp-${var.cluster}"

# The load balancer(s).
nodes "lb" {
  agent = "haproxy"
}

# The web nodes of the cluster: a cluster that finds none fails the run.
nodes "web" {
  fact  = { cluster = var.cluster }
  agent = "appmgr"
}

nodes "notifiers" {
  agent = "angelia"
}

# Every node answers before anything changes.
resource "rpcutil_ping" "fleet" {
  targets = concat(nodes.lb, nodes.web)
}

# The rolling upgrade: the chain of modules/upgrade for one batch of web
# nodes at a time (rollout.batch). The first batch is the canary.
module "upgrade" {
  source         = "./modules/upgrade"
  load_balancers = nodes.lb
  servers        = rollout.batch
  revision       = var.revision
  load_timeout   = var.load_timeout
  load_interval  = var.load_interval
  depends_on     = [rpcutil_ping.fleet]

  rollout {
    nodes      = nodes.web
    batches    = var.batches
    max_failed = var.max_failed
  }
}

# On failure: where do the nodes that failed stand? (no-op: changes
# nothing) changed_nodes: not at the revision (their deploy failed and
# appmgr switched back); the others run the new revision and failed later.
resource "appmgr_deploy" "failed" {
  targets    = module.upgrade.failed_nodes
  app        = "webapp"
  revision   = var.revision
  noop       = true
  when       = "failure"
  depends_on = [module.upgrade]
}

# Roll back the failed nodes that run the new revision.
resource "rpc" "rollback" {
  targets    = [for n in appmgr_deploy.failed.ok_nodes : n if !contains(appmgr_deploy.failed.changed_nodes, n)]
  agent      = "appmgr"
  action     = "rollback"
  inputs     = { app = "webapp" }
  when       = "failure"
  depends_on = [module.upgrade]
}

# Back in service: the failed nodes that run their previous release again.
# A node whose rollback failed stays in maintenance for a person to look at.
resource "haproxy_enable" "failed" {
  targets    = length(concat(appmgr_deploy.failed.changed_nodes, rpc.rollback.ok_nodes)) > 0 ? nodes.lb : []
  backend    = "web"
  servers    = concat(appmgr_deploy.failed.changed_nodes, rpc.rollback.ok_nodes)
  when       = "failure"
  depends_on = [module.upgrade]
}

# Clean-up, whatever happened, also after Ctrl-C: the nodes the rollout
# deployed are back in the load balancer (an interrupted batch is left
# out of it otherwise). The nodes that failed are the failure hooks'.
resource "haproxy_enable" "cleanup" {
  targets    = length(module.upgrade.changed_nodes) > 0 ? nodes.lb : []
  backend    = "web"
  servers    = module.upgrade.changed_nodes
  when       = "always"
  depends_on = [module.upgrade, haproxy_enable.failed]
}

# Where does the cluster stand now? (no-op: changes nothing) ok_nodes less
# changed_nodes run the revision, whichever run deployed it.
resource "appmgr_deploy" "status" {
  targets    = nodes.web
  app        = "webapp"
  revision   = var.revision
  noop       = true
  when       = "always"
  depends_on = [haproxy_enable.cleanup]
}

# Tell the administrator, through exactly one notifier, what happened:
# whenever this run deployed or failed something, or the cluster is not at
# the revision yet. The message comes from the status, so the run that
# completes an upgrade (a re-run after a fix, say) reports the whole
# cluster, not only its own part.
resource "angelia_notify" "report" {
  targets    = length(concat(module.upgrade.changed_nodes, module.upgrade.failed_nodes, appmgr_deploy.status.changed_nodes, appmgr_deploy.status.failed_nodes)) > 0 ? nodes.notifiers : []
  recipient  = var.recipient
  subject    = "webapp ${var.revision} %{if length(concat(appmgr_deploy.status.changed_nodes, appmgr_deploy.status.failed_nodes)) > 0}NOT deployed to all of%{else}deployed to%{endif} ${var.cluster}"
  message    = <<-EOT
    Running ${var.revision}: %{if length(appmgr_deploy.status.ok_nodes) > length(appmgr_deploy.status.changed_nodes)}${join(", ", [for n in appmgr_deploy.status.ok_nodes : n if !contains(appmgr_deploy.status.changed_nodes, n)])}%{else}none%{endif}.
    Deployed by this run: %{if length(module.upgrade.changed_nodes) > 0}${join(", ", module.upgrade.changed_nodes)}%{else}none%{endif}.%{if length(module.upgrade.failed_nodes) > 0}
    Failed (rolled back and back in service unless the run was interrupted): ${join(", ", module.upgrade.failed_nodes)}.%{endif}%{if length(appmgr_deploy.status.changed_nodes) > 0}
    Not at ${var.revision}: ${join(", ", appmgr_deploy.status.changed_nodes)}.%{endif}%{if length(appmgr_deploy.status.failed_nodes) > 0}
    No answer: ${join(", ", appmgr_deploy.status.failed_nodes)}.%{endif}
  EOT
  when       = "always"
  depends_on = [appmgr_deploy.status]
}
