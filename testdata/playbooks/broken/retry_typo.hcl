resource "rpcutil_ping" "a" {
  retry {
    atempts = 3
  }
}
