resource "rpc" "a" {
  agent  = each.key
  action = "ping"
}
