# A node set is a list of identities: interpolating it into a string is a
# type error. Node sets are unknown at compile time, and HCL's templates
# skip the check of unknown values, so this used to pass validate and fail
# at apply time, after earlier resources had changed the fleet.
nodes "web" {
  fact = { role = "web" }
}

locals {
  where = "on ${nodes.web}"
  fine  = "on ${join(", ", nodes.web)}, checked: ${can("${nodes.web}")}"
  each  = [for n in nodes.web : "node ${n}"]
}

resource "angelia_notify" "done" {
  recipient = "ops"
  subject   = "deployed"
  message   = "deployed to ${nodes.web}"
}

module "notify" {
  source  = "./node_set_in_string"
  message = nodes.web
}
