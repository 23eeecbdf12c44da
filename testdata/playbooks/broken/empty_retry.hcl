resource "rpcutil_ping" "a" {
  retry {}
}
