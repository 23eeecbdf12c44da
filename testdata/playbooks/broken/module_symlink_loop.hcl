# The module's directory holds a symbolic link to itself, called twice:
# this used to expand exponentially until memory ran out. Sources are
# resolved through symbolic links, so the loop is found.
module "loop" {
  source = "./module_symlink_loop"
}
