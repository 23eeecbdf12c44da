resource "rpcutil_ping" "a" {
  count   = 3
  timeout = "soon"
}
