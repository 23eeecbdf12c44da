variable "cluster" {
  type    = string
  default = "bravo"
  validation {
    condition     = contains(["alfa", "bravo"], var.cluster)
    error_message = "cluster must be alfa or bravo"
  }
}
variable "checks" {
  type    = map(object({ command = string, warn = optional(number, 80) }))
  default = { load = { command = "check_load" } }
}
lock = "webapp-${var.cluster}"
locals {
  web_label = "web-${var.cluster}"
}
nodes "web" {
  fact = { cluster = var.cluster }
  min  = 1
}
nodes "lb" {
  agent    = "rpcutil"
  identity = ["/lb/"]
}
resource "rpcutil_ping" "all" {
  targets = concat(nodes.lb, nodes.web)
}
resource "rpc" "check" {
  for_each = var.checks
  targets  = nodes.web
  agent    = "rpcutil"
  action   = "get_fact"
  inputs   = { fact = "cluster" }
  expect   = reply.data.value == var.cluster
  retry {
    timeout  = "10s"
    interval = "1s"
  }
  depends_on = [rpcutil_ping.all]
}
module "rot" {
  source     = "./mod"
  servers    = nodes.web
  depends_on = [rpc.check]
}
resource "rpc" "after" {
  agent      = "rpcutil"
  action     = "ping"
  depends_on = [module.rot]
}
