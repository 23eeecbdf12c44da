resource "kubernetes_pod" "a" {}
