resource "rpcutil_ping" "a" {
  targets = { a = 1 }
}
