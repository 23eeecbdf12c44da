# Modules multiply: 11 instances of a module whose resource has 10,000
# instances would be 110,011 instances; a catalog takes at most 100,000
# (resource and module instances).
module "fleet" {
  source = "./catalog_too_large"
  count  = 11
}
