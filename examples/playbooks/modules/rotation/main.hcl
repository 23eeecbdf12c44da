# A module: ping a cluster's nodes in batches of two, then read a fact from
# each and check it.

variable "cluster" {
  type = string
}

variable "min_nodes" {
  type    = number
  default = 1
}

nodes "members" {
  fact = { cluster = var.cluster }
  min  = var.min_nodes
}

resource "rpcutil_ping" "members" {
  targets    = nodes.members
  batch_size = 2
}

resource "rpc" "fact" {
  count      = 1
  targets    = nodes.members
  agent      = "rpcutil"
  action     = "get_fact"
  inputs     = { fact = "cluster" }
  expect     = reply.data.value == var.cluster
  depends_on = [rpcutil_ping.members]
}
