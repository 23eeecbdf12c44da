resource "rpcutil_ping" "a" {
  batch_size = 0
}
