resource "rpc" "a" {
  agent  = local.agent
  action = "ping"
}
