nodes "web" {
  min = 5
  max = 2
}
