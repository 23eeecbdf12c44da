# for_each is checked against the per-resource limit (10,000 by default):
# this map has 10,100 elements.
resource "rpcutil_ping" "many" {
  for_each = { for p in setproduct(range(101), range(100)) : "${p[0]}-${p[1]}" => p }
}
