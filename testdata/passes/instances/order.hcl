resource "rpcutil_ping" "z" {}
resource "rpcutil_ping" "b" {
  depends_on = [rpcutil_ping.z]
}
resource "rpcutil_ping" "a" {}
resource "rpcutil_ping" "c" {
  depends_on = [rpcutil_ping.a, rpcutil_ping.b]
}
