resource "rpcutil_ping" "a" {
  expect = reply.status == "ok"
}
