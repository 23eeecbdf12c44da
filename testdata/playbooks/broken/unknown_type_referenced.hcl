resource "rpcutil_pong" "a" {}
resource "rpcutil_ping" "b" {
  depends_on = [rpcutil_pong.a]
}
