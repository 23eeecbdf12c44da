variable "cluster" {
  type    = string
  default = "bravo"
}
locals {
  label = "web-${var.cluster}"
}
nodes "web" {
  fact = { cluster = var.cluster }
}
resource "rpcutil_ping" "all" {
  targets = nodes.web
}
