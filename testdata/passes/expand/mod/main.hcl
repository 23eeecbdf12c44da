variable "after" {
  type = string
}
resource "rpcutil_ping" "p" {}
resource "rpcutil_ping" "q" {
  depends_on = [rpcutil_ping.p]
}
