lokc = "x"
variable "size" {
  type    = number
  defualt = 3
}
nodes "web" {
  facts = { cluster = "alfa" }
}
resource "rpcutil_ping" "a" {
  retry = 3
  bogus {
  }
}
resource "rpc" "b" {
  agent   = "rpcutil"
  actoin  = "ping"
}
