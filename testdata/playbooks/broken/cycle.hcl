resource "rpcutil_ping" "a" {
  depends_on = [rpcutil_ping.c]
}
resource "rpcutil_ping" "b" {
  depends_on = [rpcutil_ping.a]
}
resource "rpcutil_ping" "c" {
  depends_on = [rpcutil_ping.b]
}
