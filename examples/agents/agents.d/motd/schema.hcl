# The motd agent's action schema (docs/agents.md): the same schema
# language as orch's built-in agents, in HCL.
name        = "motd"
version     = "1.0.0"
description = "Sets the message of the day (an example external agent, in shell)."

action "set" {
  description = "Write content to the motd file, unless it already holds it."
  mutates     = true
  input "content" {
    type        = "string"
    required    = true
    max_length  = 4096
    description = "the message, without its final newline"
  }
  input "path" {
    type        = "string"
    default     = "/etc/motd"
    pattern     = "^/[A-Za-z0-9._/-]+$"
    description = "the file to write"
  }
  output "path" {
    type        = "string"
    description = "the file written"
  }
}
