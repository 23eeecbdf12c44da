resource "rpcutil_ping" "a" {
  depends_on = [rpcutil_ping.a]
}
