resorce "rpcutil_ping" "a" {}
