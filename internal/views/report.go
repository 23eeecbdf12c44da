package views

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/orch-fleet/orch/engine"
)

// ReportJSON renders the full report of a run (every node's reply and
// timings) for orch apply --report: the engine's report with the
// playbook's path.
func ReportJSON(playbook string, rep *engine.Report) ([]byte, error) {
	b, err := json.MarshalIndent(struct {
		Playbook string `json:"playbook"`
		*engine.Report
	}{playbook, rep}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// JUnitSuites is JUnit XML as CI systems read it: one test suite per run,
// one test case per resource instance.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is the test suite of a run.
type JUnitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []JUnitCase `xml:"testcase"`
}

// JUnitCase is the test case of a resource instance.
type JUnitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitMessage `xml:"failure,omitempty"`
	Skipped   *JUnitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitMessage is why a case failed or was skipped.
type JUnitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnitXML renders the report of a run as JUnit XML (orch apply --junit).
func JUnitXML(playbook string, rep *engine.Report) ([]byte, error) {
	s := JUnitSuite{Name: playbook, Time: secs(rep.Elapsed.Seconds()), Timestamp: rep.Started.UTC().Format("2006-01-02T15:04:05")}
	for _, rr := range rep.Resources {
		c := JUnitCase{Classname: rr.Type, Name: rr.Addr, Time: secs(rr.Elapsed.Seconds())}
		detail := junitDetail(rr)
		switch {
		case rr.Outcome == engine.OutcomeSkipped:
			s.Skipped++
			c.Skipped = &JUnitMessage{Message: rr.Reason}
		case rr.Outcome == engine.OutcomeFailed && !rr.FailOK:
			s.Failures++
			c.Failure = &JUnitMessage{Message: rr.Reason, Text: detail}
		default:
			c.SystemOut = detail
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	out := JUnitSuites{Name: "orch apply " + playbook, Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Time: s.Time, Suites: []JUnitSuite{s}}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// junitDetail is a line per node of a resource instance.
func junitDetail(rr *engine.ResourceReport) string {
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
	return strings.Join(lines, "\n")
}

func secs(f float64) string { return fmt.Sprintf("%.3f", f) }
