variable "revision" {
  type    = string
  default = "--upload-pack=touch /tmp/x"
}
resource "appmgr_deploy" "web" {
  app      = "webapp"
  revision = var.revision
}
resource "nrpe_check" "disk" {
  command = "check_disk -w 10%"
}
