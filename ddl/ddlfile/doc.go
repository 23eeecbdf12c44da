// Package ddlfile reads agent schemas from files: the action schema of an
// external agent (docs/agents.md), written in JSON or HCL, as the same
// ddl.Agent the built-in agents declare in Go.
//
// The JSON form is a ddl.Agent as encoding/json writes it. The HCL form has
// the same fields, with one block per action and per input or output:
//
//	name    = "motd"
//	version = "1.0.0"
//	action "set" {
//	  mutates = true
//	  input "content" {
//	    type       = "string"
//	    required   = true
//	    max_length = 4096
//	  }
//	  output "path" { type = "string" }
//	}
//
// Load reads and checks a file (at most MaxSize bytes); Check checks a
// schema from anywhere.
package ddlfile
