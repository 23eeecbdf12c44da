# Take servers out of the load balancer, or put them back: the same module
# is used twice in deploy.hcl, once each way.

variable "load_balancers" {
  type        = list(string)
  description = "the nodes running HAProxy"
}

variable "servers" {
  type        = list(string)
  description = "the web nodes (their identities are the HAProxy server names)"
}

variable "in_service" {
  type        = bool
  description = "true: enable the servers; false: put them in maintenance"
}

variable "backend" {
  type    = string
  default = "web"
}

resource "haproxy_disable" "servers" {
  count   = var.in_service ? 0 : 1
  targets = length(var.servers) > 0 ? var.load_balancers : []
  backend = var.backend
  servers = var.servers
}

resource "haproxy_enable" "servers" {
  count   = var.in_service ? 1 : 0
  targets = length(var.servers) > 0 ? var.load_balancers : []
  backend = var.backend
  servers = var.servers
}
