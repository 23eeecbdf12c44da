# setproduct and indent can build results far larger than their
# arguments; one call of either used to run the machine out of memory.
locals {
  pairs  = setproduct(range(1000), range(1000), range(1000))
  spaced = indent(999999999, "a\nb")
}
