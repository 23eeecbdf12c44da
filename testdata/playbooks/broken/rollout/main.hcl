variable "servers" { type = list(string) }
resource "rpcutil_ping" "each" {
  targets = var.servers
}
