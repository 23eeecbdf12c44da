# baseline.hcl: the standard agents — a package, its config file, a
# one-off command and the service — on a cluster's web nodes. Each step is
# idempotent: a second run changes nothing; `orch plan` shows what would
# change, with a diff of the file.
#
#   orch apply examples/playbooks/baseline.hcl -var cluster=alfa
#
# The nodes need the package, file, exec and service providers, e.g.:
#
#   provider "package" {}
#   provider "file"    { paths = ["/etc/nginx/conf.d"] }
#   provider "exec" {
#     command "nginx_test" { argv = ["/usr/sbin/nginx", "-t"] }
#     command "dhparam" {
#       argv    = ["/usr/bin/openssl", "dhparam", "-out", "/etc/nginx/dhparam.pem", "2048"]
#       creates = "/etc/nginx/dhparam.pem"
#     }
#   }
#   provider "service" {}

variable "cluster" {
  type = string
}

variable "workers" {
  type    = number
  default = 4
}

nodes "web" {
  fact = { cluster = var.cluster }
  min  = 1
}

resource "package_install" "nginx" {
  targets = nodes.web
  name    = "nginx"
}

resource "package_remove" "telnet" {
  targets = nodes.web
  name    = "telnet"
  purge   = true
}

resource "file_write" "upstream" {
  targets    = nodes.web
  path       = "/etc/nginx/conf.d/orch.conf"
  mode       = "0644"
  owner      = "root"
  group      = "root"
  content    = <<-EOT
    # managed by orch: cluster ${var.cluster}
    worker_connections ${var.workers * 256};
    EOT
  depends_on = [package_install.nginx]
}

resource "exec_run" "dhparam" {
  targets    = nodes.web
  command    = "dhparam"
  depends_on = [package_install.nginx]
}

resource "exec_run" "config_test" {
  targets    = nodes.web
  command    = "nginx_test"
  depends_on = [file_write.upstream, exec_run.dhparam]
}

resource "service_enable" "nginx" {
  targets    = nodes.web
  unit       = "nginx.service"
  depends_on = [package_install.nginx]
}

resource "service_start" "nginx" {
  targets    = nodes.web
  unit       = "nginx.service"
  depends_on = [service_enable.nginx]
}

resource "service_reload" "nginx" {
  targets    = file_write.upstream.changed_nodes
  unit       = "nginx.service"
  depends_on = [exec_run.config_test, service_start.nginx]
}

resource "file_remove" "default_site" {
  targets = nodes.web
  path    = "/etc/nginx/conf.d/default.conf"
}
