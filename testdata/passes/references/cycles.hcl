locals {
  a = local.b
  b = local.a
  c = "${local.c}x"
}
resource "rpcutil_ping" "self" {
  depends_on = [rpcutil_ping.self]
}
resource "rpc" "x" {
  agent  = "rpcutil"
  action = rpc.y.action
}
resource "rpc" "y" {
  agent  = "rpcutil"
  action = rpc.x.action
}
