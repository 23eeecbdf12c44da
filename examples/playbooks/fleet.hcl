# fleet.hcl: modules, for_each and count. Each cluster's nodes are pinged in
# turn through one module instance per cluster, then one node of the whole
# fleet reports its inventory.
#
#   orch plan examples/playbooks/fleet.hcl

variable "clusters" {
  type    = set(string)
  default = ["alfa", "bravo"]
}

variable "min_nodes" {
  type    = number
  default = 1
}

module "cluster" {
  for_each  = var.clusters
  source    = "./modules/rotation"
  cluster   = each.key
  min_nodes = var.min_nodes
}

resource "rpc" "inventory" {
  agent      = "rpcutil"
  action     = "inventory"
  any_one    = true
  depends_on = [module.cluster]
}
