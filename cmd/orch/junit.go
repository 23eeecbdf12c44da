package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"

	"github.com/orch-fleet/orch/engine"
)

// JUnit XML as CI systems read it: one test suite per run, one test case
// per resource instance.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// junitXML renders a run report.
func junitXML(playbook string, rep *engine.Report) ([]byte, error) {
	s := junitSuite{Name: playbook, Time: secs(rep.Elapsed.Seconds()), Timestamp: rep.Started.UTC().Format("2006-01-02T15:04:05")}
	for _, rr := range rep.Resources {
		c := junitCase{Classname: rr.Type, Name: rr.Addr, Time: secs(rr.Elapsed.Seconds())}
		var lines []string
		for _, nr := range rr.Nodes {
			state := "ok"
			switch {
			case nr.NoAnswer:
				state = "no answer"
			case !nr.OK:
				state = fmt.Sprintf("failed: %s: %s", nr.Status, nr.Message)
			case nr.Changed:
				state = "changed" + colonMsg(nr.Message)
			}
			lines = append(lines, fmt.Sprintf("%s: %s (attempt %d, %s)", nr.Identity, state, nr.Attempt, elapsed(nr.Elapsed)))
		}
		detail := strings.Join(lines, "\n")
		switch {
		case rr.Outcome == engine.OutcomeSkipped:
			s.Skipped++
			c.Skipped = &junitMessage{Message: rr.Reason}
		case rr.Outcome == engine.OutcomeFailed && !rr.FailOK:
			s.Failures++
			c.Failure = &junitMessage{Message: rr.Reason, Text: detail}
		default:
			c.SystemOut = detail
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	out := junitSuites{Name: "orch apply " + playbook, Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Time: s.Time, Suites: []junitSuite{s}}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

func secs(f float64) string { return fmt.Sprintf("%.3f", f) }

// writeJUnitFile writes the JUnit XML of a run.
func writeJUnitFile(file, playbook string, rep *engine.Report) error {
	b, err := junitXML(playbook, rep)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}
