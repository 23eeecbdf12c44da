variable "apps" {
  type    = set(string)
  default = ["billing", "search"]
}
resource "appmgr_deploy" "app" {
  for_each = var.apps
  app      = each.key
  revision = "v1"
}
resource "rpcutil_ping" "again" {
  count   = 2
  timeout = "${count.index + 1}s"
}
nodes "web" {
  fact = { cluster = "alfa" }
}
resource "rpc" "check" {
  targets = nodes.web
  agent   = "rpcutil"
  action  = "get_fact"
  inputs  = { fact = "cluster", first = nodes.web[0] }
}
