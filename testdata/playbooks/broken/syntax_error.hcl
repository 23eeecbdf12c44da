resource "rpcutil_ping" "a" {
  targets = [
}
