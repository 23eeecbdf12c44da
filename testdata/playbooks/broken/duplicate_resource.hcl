resource "rpcutil_ping" "a" {}
resource "rpcutil_ping" "a" {}
