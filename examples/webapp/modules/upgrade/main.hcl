# One batch of the rolling upgrade, the whole chain: out of the load
# balancer, deploy, check the load, back in. deploy.hcl rolls it over the
# web nodes of a cluster, batch by batch: servers is the current batch
# (rollout.batch). A node that fails a step leaves the batch (the rollout
# reports it in module.upgrade.failed_nodes); the others go on while the
# rollout's max_failed budget holds.

variable "load_balancers" {
  type        = list(string)
  description = "the nodes running HAProxy"
}

variable "servers" {
  type        = list(string)
  description = "the batch: web nodes, named as HAProxy's servers"
}

variable "app" {
  type    = string
  default = "webapp"
}

variable "revision" {
  type        = string
  description = "git branch, tag or commit to deploy"
}

variable "backend" {
  type    = string
  default = "web"
}

variable "load_timeout" {
  type = string
}

variable "load_interval" {
  type = string
}

# Which nodes of the batch are not at the revision yet? (no-op: changes
# nothing) Only those leave the load balancer, so that a re-run of a
# finished upgrade changes nothing.
resource "appmgr_deploy" "pending" {
  targets  = var.servers
  app      = var.app
  revision = var.revision
  noop     = true
}

# Out of the load balancer.
resource "haproxy_disable" "out" {
  targets = length(appmgr_deploy.pending.changed_nodes) > 0 ? var.load_balancers : []
  backend = var.backend
  servers = appmgr_deploy.pending.changed_nodes
}

# Deploy (appmgr switches back by itself when the restart or the health
# check fails).
resource "appmgr_deploy" "release" {
  targets    = appmgr_deploy.pending.changed_nodes
  app        = var.app
  revision   = var.revision
  depends_on = [haproxy_disable.out]
}

# The load must be OK on every node of the batch, retried until
# load_timeout: the nodes just deployed, and any an earlier run deployed
# but left out of the load balancer (interrupted, say).
resource "nrpe_check" "load" {
  targets = var.servers
  command = "check_load"
  retry {
    timeout  = var.load_timeout
    interval = var.load_interval
  }
  depends_on = [appmgr_deploy.release]
}

# Back in: the nodes that passed (already in: nothing to do).
resource "haproxy_enable" "in" {
  targets = length(nrpe_check.load.ok_nodes) > 0 ? var.load_balancers : []
  backend = var.backend
  servers = nrpe_check.load.ok_nodes
}
