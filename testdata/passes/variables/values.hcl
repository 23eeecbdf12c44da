variable "cluster" {
  type = string
}
variable "checks" {
  type    = map(object({ command = string, warn = optional(number, 80) }))
  default = { load = { command = "check_load" } }
}
variable "size" {
  type    = number
  default = "big"
}
