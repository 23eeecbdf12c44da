nodes "web" {
  fact = { role = "web" }
}
resource "rpcutil_ping" "a" {
  targets = nodes.wbe
}
