resource "rpc" "a" {
  agent = var.nope
}
resource "rpcutil_pong" "b" {}
resource "rpcutil_ping" "c" {
  timeout = "soon"
}
