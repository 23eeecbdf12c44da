variable "servers" { type = list(string) }
resource "rpc" "out" {
  targets = var.servers
  agent   = "rpcutil"
  action  = "get_fact"
  inputs  = { fact = "x" }
}
resource "rpcutil_ping" "back" {
  count      = 2
  targets    = var.servers
  depends_on = [rpc.out]
}
