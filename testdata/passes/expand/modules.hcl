resource "rpcutil_ping" "first" {
  count = 2
}
module "m" {
  source   = "./mod"
  for_each = toset(["a", "b"])
  after      = "x"
  depends_on = [rpcutil_ping.first]
}
resource "rpcutil_ping" "last" {
  depends_on = [module.m]
}
