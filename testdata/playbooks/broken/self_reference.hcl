resource "rpc" "a" {
  agent  = "rpcutil"
  action = rpc.a.agent
}
