resource "rpcutil_ping" "p" {}
