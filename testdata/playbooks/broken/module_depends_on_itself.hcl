# A module that depends on itself.
module "m" {
  source     = "./module_depends_on_itself"
  depends_on = [module.m]
}
