variable "cluster" {
  type    = string
  default = "bravo"
}
resource "rpc" "a" {
  agent  = var.clustr
  action = vars.action
  inputs = { other = rpc.nope.action, again = var.clustr }
}
