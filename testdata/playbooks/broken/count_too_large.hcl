# count is checked against the per-resource limit (10,000 by default)
# before any instance is made: 1e18 used to panic in makeslice.
resource "rpcutil_ping" "many" {
  count = 1e18
}
