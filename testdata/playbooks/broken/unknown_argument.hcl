resource "rpc" "a" {
  agent  = "rpcutil"
  action = "ping"
  agnet  = "x"
}
