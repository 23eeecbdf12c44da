resource "rpcutil_ping" "a" {
  timeout = "ten seconds"
}
