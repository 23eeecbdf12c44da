resource "rpc" "a" {
  agent  = ["rpcutil"]
  action = "ping"
}
