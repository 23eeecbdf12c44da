variable "cluster" {
  type = strin
}
