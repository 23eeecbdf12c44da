resource "rpcutil_ping" "all" {}
