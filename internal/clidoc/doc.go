// Package clidoc renders a command-line program's reference — shell
// completions for bash, zsh and fish, and man pages — from a plain
// description of its commands and flags, so that both are generated from
// the one command table the program itself uses and never drift from it.
//
//	p := clidoc.Program{Name: "orch", Summary: "fleet orchestration", Commands: cmds}
//	err := clidoc.Completion(os.Stdout, "bash", p)
//	err = clidoc.WriteManPages("man/man1", p)
package clidoc
