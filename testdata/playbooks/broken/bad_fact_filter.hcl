nodes "web" {
  fact = { cpus = ">=many" }
}
