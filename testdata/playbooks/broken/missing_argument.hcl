resource "rpc" "a" {
  agent = "rpcutil"
}
