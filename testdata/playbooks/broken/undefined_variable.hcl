resource "rpc" "a" {
  agent  = var.agnet
  action = "ping"
}
