nodes "web" {}
resource "rpcutil_ping" "a" {
  for_each = toset(nodes.web)
}
