resource "rpc" "a" {
  agent  = vars.agent
  action = "ping"
}
