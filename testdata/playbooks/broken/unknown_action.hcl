resource "rpc" "check" {
  agent  = "nrpe"
  action = "runn"
  inputs = { command = "check_load" }
}
