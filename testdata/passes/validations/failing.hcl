variable "cluster" {
  type    = string
  default = "bravo"
  validation {
    condition     = contains(["alfa", "charlie"], var.cluster)
    error_message = "cluster must be alfa or charlie."
  }
}
variable "batch" {
  type    = number
  default = 2
  validation {
    condition     = var.batch > 0
    error_message = "batch must be positive."
  }
}
