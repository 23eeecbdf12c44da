package playbook

import "slices"

// MetaArgs returns the arguments every resource takes besides its type's
// own (targets, depends_on, count, …): a resource type may not declare
// arguments of these names.
func MetaArgs() []string { return slices.Clone(metaArgs) }
