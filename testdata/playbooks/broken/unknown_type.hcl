resource "rpcutil_pong" "a" {}
