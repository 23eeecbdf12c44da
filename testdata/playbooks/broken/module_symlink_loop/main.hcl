module "a" {
  source = "./self"
}

module "b" {
  source = "./self"
}

resource "rpcutil_ping" "p" {}
