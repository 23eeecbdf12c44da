package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nodeGuideBlocks returns the fenced blocks of docs/security.md whose info
// string is "LANG node-guide", with the list indentation removed.
func nodeGuideBlocks(t *testing.T, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```"+lang+" node-guide":
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, strings.TrimPrefix(line, "   "))
		}
	}
	return blocks
}

// TestSecurityGuideCommands runs the commands of the node setup in
// docs/security.md, with its config, in a temporary root.
func TestSecurityGuideCommands(t *testing.T) {
	root := t.TempDir()
	paths := strings.NewReplacer("/etc/orch", filepath.Join(root, "etc"), "/var/lib/orch", filepath.Join(root, "lib"), "/var/log/orch", filepath.Join(root, "log"))
	configs := nodeGuideBlocks(t, "hcl")
	if len(configs) != 1 {
		t.Fatalf("%d hcl node-guide blocks, want 1", len(configs))
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "node.hcl"), []byte(paths.Replace(configs[0])), 0o600); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, block := range nodeGuideBlocks(t, "sh") {
		for _, line := range strings.Split(block, "\n") {
			f := strings.Fields(paths.Replace(line))
			if len(f) == 0 || f[0] != "orch" {
				continue
			}
			if code, out, errOut := runOrch(t, f[1:]...); code != exitOK {
				t.Fatalf("%s: exit %d\n%s%s", line, code, out, errOut)
			}
			ran++
		}
	}
	if ran < 2 {
		t.Fatalf("ran %d commands of the guide", ran)
	}
}
