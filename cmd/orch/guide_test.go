package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orch-fleet/orch/internal/clientconf"
)

// guideBlock is a fenced block of a document: its language and text.
type guideBlock struct{ lang, text string }

var fence = regexp.MustCompile("(?ms)^```(\\w+)\\n(.*?)^```\\n")

func guideBlocks(doc string) []guideBlock {
	var out []guideBlock
	for _, m := range fence.FindAllStringSubmatch(doc, -1) {
		out = append(out, guideBlock{lang: m[1], text: m[2]})
	}
	return out
}

// guideScript turns the sh and hcl blocks of the security guide into one
// bash script, in order: sh blocks run as written, an hcl block whose
// first line is a "# PATH" comment is written to PATH. Only these change:
// the system paths point into the test's directory, the broker listens on
// a free loopback port that the clients' URLs then name, and the broker
// and the agent run in the background (each awaited: the broker's port,
// the node's registration), stopped when the script ends.
func guideScript(doc string) string {
	var b strings.Builder
	b.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n")
	for _, bl := range guideBlocks(doc) {
		switch bl.lang {
		case "sh":
			for _, line := range strings.SplitAfter(bl.text, "\n") {
				b.WriteString(guideLine(line))
			}
		case "hcl":
			first, rest, _ := strings.Cut(bl.text, "\n")
			if path, ok := strings.CutPrefix(first, "# "); ok && strings.Contains(path, "/") {
				path = guidePaths(path)
				b.WriteString("mkdir -p \"$(dirname " + path + ")\"\ncat > " + path + " <<GUIDE_EOF\n" + guidePaths(rest) + "GUIDE_EOF\n")
			}
		}
	}
	return b.String()
}

// guidePaths points the guide's system paths and broker name at the test.
func guidePaths(s string) string {
	return strings.NewReplacer(
		"/etc/orch/", "$D/etc/orch/", "/etc/orch ", "$D/etc/orch ",
		"/var/lib/orch/", "$D/var/lib/orch/",
		"~/", "$HOME/",
		"0.0.0.0:4222", "127.0.0.1:0",
		"broker.example.net:4222", "localhost:$PORT",
		"broker.example.net", "localhost",
	).Replace(s)
}

// guideLine is one line of an sh block, run in the background when it
// starts a daemon.
func guideLine(line string) string {
	line = guidePaths(line)
	trimmed := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(trimmed, "orch broker --"):
		return trimmed + " > broker.out 2> broker.log &\n" +
			"PORT=$(timeout 20 bash -c 'until grep -o \"[0-9]*$\" broker.out; do sleep 0.02; done')\n"
	case strings.HasPrefix(trimmed, "orch agent ") && !strings.Contains(trimmed, "--check"):
		return trimmed + " 2> agent.log &\n" +
			"timeout 20 bash -c 'until orch discover 2>/dev/null | grep -q web1; do sleep 0.05; done'\n"
	}
	return line
}

// TestSecurityGuide runs the setup of docs/security.md, every command as
// written there: openssl certificates, keys, gen-auth, a broker with mTLS
// and nkey users, the operator's client config, a node, orch config and
// orch ping.
func TestSecurityGuide(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed (make deps installs it)")
		}
		t.Skip("openssl is not installed (make deps installs it)")
	}
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "orch"), ".").CombinedOutput(); err != nil {
		t.Fatalf("building orch: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	script := guideScript(string(doc))
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = work
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "D=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := exec.Command("sh", "-c", "tail -20 "+work+"/*.log").CombinedOutput()
		t.Fatalf("the guide failed: %v\n%s\nscript:\n%s\nlogs:\n%s", err, out, script, logs)
	}
	t.Logf("the guide's output:\n%s", out)
	for _, want := range []string{"web1", "tls://localhost:", "file " + filepath.Join(dir, "home", ".config", "orch", "client.hcl")} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the guide's output lacks %q:\n%s", want, out)
		}
	}
}

// TestSecurityGuideListsSettings keeps the connection settings table of
// docs/security.md in step with clientconf's keys.
func TestSecurityGuideListsSettings(t *testing.T) {
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range clientconf.Keys() {
		for _, s := range []string{"`" + k.Name + "`", "`--" + k.Flag + "`", "`" + k.Env + "`"} {
			if !strings.Contains(string(doc), s) {
				t.Errorf("docs/security.md does not name %s", s)
			}
		}
	}
}

// TestSecurityGuidePermissions keeps the permission blocks shown in
// docs/security.md identical to what gen-auth writes.
func TestSecurityGuidePermissions(t *testing.T) {
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	code, conf, errs := runOrch(t, "broker", "gen-auth", "--client", "ops="+testPub(t, "ops"), "--node", "web1="+testPub(t, "web1")+":rpcutil,nrpe")
	if code != 0 {
		t.Fatal(errs)
	}
	shown := 0
	for _, bl := range guideBlocks(string(doc)) {
		if bl.lang != "text" {
			continue
		}
		for _, line := range strings.Split(bl.text, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "publish:") || strings.HasPrefix(line, "subscribe:") || strings.HasPrefix(line, "allow_responses:") {
				shown++
				if !strings.Contains(conf, line) {
					t.Errorf("docs/security.md shows %q, gen-auth writes:\n%s", line, conf)
				}
			}
		}
	}
	if shown != 5 {
		t.Errorf("docs/security.md shows %d permission lines, want 5", shown)
	}
}

func testPub(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".nk")
	code, out, errs := runOrch(t, "keygen", "--out", path)
	if code != 0 {
		t.Fatal(errs)
	}
	return strings.TrimSpace(out)
}
