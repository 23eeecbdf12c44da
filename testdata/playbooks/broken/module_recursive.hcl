# Module a calls module b, which calls a.
module "a" {
  source = "./module_recursive/a"
}
