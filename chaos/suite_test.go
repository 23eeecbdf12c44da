//go:build chaos

package chaos

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bin is the orch binary under test, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "orch-chaos-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "orch")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/orch-fleet/orch/cmd/orch").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building orch: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// config is the suite's size, from the environment.
type config struct {
	agents int // CHAOS_AGENTS: agent processes, two of them notifiers (default 20, at least 5)
	rounds int // CHAOS_ROUNDS: times each fault is injected (default 1)
}

func configFromEnv(t *testing.T) config {
	c := config{agents: 20, rounds: 1}
	for name, p := range map[string]*int{"CHAOS_AGENTS": &c.agents, "CHAOS_ROUNDS": &c.rounds} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", name, v)
			}
			*p = n
		}
	}
	c.agents = max(c.agents, 5)
	return c
}

// result is what one fault's scenario did: faults injected, runs (applies
// or discoveries) judged, and what was wrong with those judged wrong.
type result struct {
	injected int
	runs     int
	correct  int
	problems []string
}

// judge counts one run, correct when problems is empty.
func (r *result) judge(problems []string) {
	r.runs++
	if len(problems) == 0 {
		r.correct++
	}
	r.problems = append(r.problems, problems...)
}

// row is one line of the printed table.
type row struct {
	fault string
	result
	known string // a known failure: the issue and what fails
}

// printTable writes the table in Markdown, as docs/reliability.md shows it.
func printTable(w io.Writer, rows []row, elapsed time.Duration, c config) {
	fmt.Fprintf(w, "\nchaos suite: %d agents, 3 brokers, %d round(s), %s\n\n", c.agents, c.rounds, elapsed.Round(time.Second))
	fmt.Fprintln(w, "| fault | injected | runs | correct outcomes | known failures |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		known := r.known
		if known == "" || r.correct == r.runs && len(r.problems) == 0 {
			known = "—"
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %s |\n", r.fault, r.injected, r.runs, r.correct, known)
	}
}

// TestChaos starts the fleet, runs every scenario in turn, prints the
// table and fails on any outcome that is wrong and not a known failure.
func TestChaos(t *testing.T) {
	start := time.Now()
	c := configFromEnv(t)
	s := &suite{t: t, c: c, f: newFleet(t, bin, c.agents)}
	t.Logf("fleet up in %s: %s", time.Since(start).Round(time.Millisecond), s.f.dir)
	only := regexp.MustCompile(os.Getenv("CHAOS_ONLY"))
	var rows []row
	for _, sc := range scenarios {
		if !sc.fatal && !only.MatchString(sc.fault) {
			continue
		}
		t0 := time.Now()
		res := sc.run(s)
		t.Logf("%s: %d injected, %d/%d correct in %s", sc.fault, res.injected, res.correct, res.runs, time.Since(t0).Round(time.Millisecond))
		rows = append(rows, row{fault: sc.fault, result: res, known: sc.known})
		for _, p := range res.problems {
			if sc.known != "" {
				t.Logf("known failure (%s): %s", sc.known, p)
			} else {
				t.Errorf("%s: %s", sc.fault, p)
			}
		}
		for _, r := range s.extra {
			rows = append(rows, r)
			for _, p := range r.problems {
				t.Errorf("%s: %s", r.fault, p)
			}
		}
		s.extra = nil
		if t.Failed() && sc.fatal {
			break
		}
	}
	rows = append(rows, s.wholeSuiteRows()...)
	for _, r := range rows[len(rows)-2:] {
		for _, p := range r.problems {
			t.Errorf("%s: %s", r.fault, p)
		}
	}
	var b strings.Builder
	printTable(&b, rows, time.Since(start), c)
	t.Log(b.String())
	fmt.Print(b.String())
}
