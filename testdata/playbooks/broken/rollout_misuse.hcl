# Misused rollouts and hooks, each reported at its argument.
nodes "web" {
  fact = { cluster = "alfa" }
}
module "no_nodes" {
  source  = "./rollout"
  servers = rollout.batch
  rollout {
    batches = [1]
  }
}
module "too_much" {
  source  = "./rollout"
  servers = rollout.batch
  rollout {
    nodes      = nodes.web
    batches    = [1, "150%"]
    max_failed = "abc"
  }
}
module "not_a_set" {
  source  = "./rollout"
  servers = rollout.batch
  rollout {
    nodes = ["web1"]
  }
}
module "plain" {
  source  = "./rollout"
  servers = nodes.web
}
resource "rpcutil_ping" "batch_outside" {
  targets = rollout.batch
}
resource "rpcutil_ping" "results_of_plain" {
  targets = module.plain.failed_nodes
}
resource "rpcutil_ping" "bad_when" {
  targets = nodes.web
  when    = "sometimes"
}
resource "rpcutil_ping" "hook_on_itself" {
  targets    = rpcutil_ping.hook_on_itself.failed_nodes
  when       = "failure"
}
