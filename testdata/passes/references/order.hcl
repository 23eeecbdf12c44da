resource "rpc" "last" {
  agent      = local.agent
  action     = "ping"
  depends_on = [rpcutil_ping.first]
}
locals {
  agent = local.base
  base  = "rpc${var.suffix}"
}
variable "suffix" {
  type    = string
  default = "util"
}
resource "rpcutil_ping" "first" {
  targets = nodes.web
}
nodes "web" {
  identity = [local.base]
}
