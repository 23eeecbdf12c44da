# The rolling upgrade of one cluster of the webapp, classic form: the whole
# cluster leaves the load balancer, is deployed two nodes at a time, checked
# and put back, as in the 2012 original (the reason for two clusters).
# deploy.hcl is the rolling form; docs/tutorial.md walks through both.
#
#   orch apply examples/webapp/deploy-classic.hcl -var cluster=alfa -var revision=v2

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

# 1. the load balancer(s)
nodes "lb" {
  agent = "haproxy"
  min   = 1
}

# 2. the web nodes of the cluster
nodes "web" {
  fact  = { cluster = var.cluster }
  agent = "appmgr"
  min   = 1
}

nodes "notifiers" {
  agent = "angelia"
  min   = 1
}

# 3. every node answers before anything changes
resource "rpcutil_ping" "fleet" {
  targets = concat(nodes.lb, nodes.web)
}

# Which web nodes are not at the revision yet? (no-op: changes nothing)
resource "appmgr_deploy" "pending" {
  targets    = nodes.web
  app        = "webapp"
  revision   = var.revision
  noop       = true
  depends_on = [rpcutil_ping.fleet]
}

# 4. take those out of the load balancer
module "maintenance" {
  source         = "./modules/rotation"
  load_balancers = nodes.lb
  servers        = appmgr_deploy.pending.changed_nodes
  in_service     = false
}

# 5. deploy, two nodes at a time
resource "appmgr_deploy" "webapp" {
  targets    = appmgr_deploy.pending.changed_nodes
  app        = "webapp"
  revision   = var.revision
  batch_size = 2
  depends_on = [module.maintenance]
}

# 6. the load must be OK on every web node, retried for up to 100 s
resource "nrpe_check" "load" {
  targets = nodes.web
  command = "check_load"
  retry {
    timeout  = var.load_timeout
    interval = var.load_interval
  }
  depends_on = [appmgr_deploy.webapp]
}

# 7. put the cluster back into the load balancer
module "service" {
  source         = "./modules/rotation"
  load_balancers = nodes.lb
  servers        = nodes.web
  in_service     = true
  depends_on     = [nrpe_check.load]
}

# 8. tell the administrator, through exactly one notifier, when something
#    was deployed
resource "angelia_notify" "deployed" {
  targets    = length(appmgr_deploy.pending.changed_nodes) > 0 ? nodes.notifiers : []
  recipient  = var.recipient
  subject    = "webapp ${var.revision} deployed to ${var.cluster}"
  message    = "Deployed to ${join(", ", appmgr_deploy.webapp.changed_nodes)}; all ${length(nodes.web)} ${var.cluster} nodes pass check_load and are in service."
  depends_on = [module.service]
}
