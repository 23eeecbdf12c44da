resource "rpcutil_ping" "a" {
  depends_on = [module.lb]
}
