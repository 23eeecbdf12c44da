resource "rpc" "a" {
  agent  = "rpcutil"
  action = "pnig"
}
resource "nrpe_check" "disk" {
  command = "check_disk -w 10%"
}
resource "rpcutil_ping" "ok" {}
