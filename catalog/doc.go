// Package catalog compiles HCL playbooks into a Catalog: variables, locals,
// node sets, resources and modules, references and depends_on become a DAG of
// resource instances (a gonum graph), checked before anything runs. Errors
// are hcl.Diagnostics naming file:line:col with a source snippet.
package catalog
