resource "rpcutil_ping" "each" {
  count = 10000
}
