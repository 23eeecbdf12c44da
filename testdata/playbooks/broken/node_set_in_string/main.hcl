variable "message" {
  type = string
}

resource "angelia_notify" "n" {
  recipient = "ops"
  subject   = "deployed"
  message   = var.message
}
