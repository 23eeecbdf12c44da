variable "cluster" {
  type    = string
  default = "charlie"
  validation {
    condition     = contains(["alfa", "bravo"], var.cluster)
    error_message = "cluster must be alfa or bravo."
  }
}
