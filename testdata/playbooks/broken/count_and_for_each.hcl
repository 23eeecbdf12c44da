resource "rpcutil_ping" "a" {
  count    = 2
  for_each = toset(["x"])
}
