package views

import (
	"fmt"
	"strings"
	"time"

	"github.com/orch-fleet/orch/catalog"
)

// elapsed formats a duration for people.
func elapsed(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

// colonMsg is ": m", or "" for no message.
func colonMsg(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

// attemptText is " (attempt a)" after the first attempt.
func attemptText(a int) string {
	if a > 1 {
		return fmt.Sprintf(" (attempt %d)", a)
	}
	return ""
}

// shortList joins ids, eliding the middle of long lists.
func shortList(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n-2], ", ") + fmt.Sprintf(", ... (%d more), ", len(ids)-n+1) + ids[len(ids)-1]
}

// retryText describes a retry policy: " up to 3 attempts, every 1s".
func retryText(r catalog.Retry) string {
	var parts []string
	if r.Attempts > 0 {
		parts = append(parts, fmt.Sprintf(" up to %d attempts", r.Attempts))
	}
	if r.Timeout > 0 {
		parts = append(parts, fmt.Sprintf(" for up to %s", r.Timeout))
	}
	if r.Interval > 0 {
		parts = append(parts, fmt.Sprintf(" every %s", r.Interval))
	}
	return strings.Join(parts, ",")
}
