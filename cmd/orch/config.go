package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/orch-fleet/orch/internal/clientconf"
)

// runConfig is `orch config`: the effective connection settings and where
// each comes from, credentials redacted.
func runConfig(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("config", e.stderr)
	c := addClientFlags(fs, e, false)
	if _, err := parseInterspersed(fs, args); err != nil {
		return exitInvalid
	}
	cfg, err := c.settings()
	if err != nil {
		fmt.Fprintf(e.stderr, "orch config: %v\n", err)
		return exitInvalid
	}
	if c.json {
		out := struct {
			File     string               `json:"file"`
			Settings []clientconf.Setting `json:"settings"`
		}{cfg.File, cfg.Settings()}
		if err := e.view().JSON(out); err != nil {
			return exitFailed
		}
		return exitOK
	}
	file := cfg.File
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(e.stdout, "client config file: %s\n\n", file)
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SETTING\tVALUE\tSOURCE")
	for _, s := range cfg.Settings() {
		v, src := s.Value, s.Source
		if src == "" {
			v, src = "-", "unset"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.Key, v, src)
	}
	if err := w.Flush(); err != nil {
		return exitFailed
	}
	return exitOK
}
