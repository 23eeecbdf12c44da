package sysfacts

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults of the system_facts block.
const (
	DefaultRefresh = 5 * time.Minute
	DefaultDirName = "facts.d" // beside the agent's config file
)

// Config is the system_facts block of the agent config; every setting is
// optional, and so is the block:
//
//	system_facts {
//	  builtin = true                 # os, kernel, cpu, memory, networking, system
//	  dir     = "/etc/orch/facts.d"  # external facts; default: facts.d beside the config
//	  refresh = "5m"                 # how often they are collected again
//	  timeout = "10s"                # per facts.d executable
//	}
type Config struct {
	Builtin *bool     `hcl:"builtin,optional"`
	Dir     string    `hcl:"dir,optional"`
	Refresh string    `hcl:"refresh,optional"`
	Timeout string    `hcl:"timeout,optional"`
	Range   hcl.Range `hcl:",def_range"`
}

// Settings are a Config with its defaults applied.
type Settings struct {
	Builtin bool
	Dir     string // absolute, or relative to the working directory
	Refresh time.Duration
	Timeout time.Duration
}

// Check returns the diagnostics of the block; a nil Config is valid.
// configPath is the agent config file.
func (c *Config) Check(configPath string) hcl.Diagnostics {
	if _, err := c.Settings(configPath); err != nil {
		r := c.Range
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid system_facts", Detail: err.Error(), Subject: &r}}
	}
	return nil
}

// Settings applies the defaults; a relative dir is relative to the
// directory of configPath, the agent config file.
func (c *Config) Settings(configPath string) (Settings, error) {
	s := Settings{Builtin: true, Dir: DefaultDirName, Refresh: DefaultRefresh, Timeout: DefaultTimeout}
	if c != nil {
		if c.Builtin != nil {
			s.Builtin = *c.Builtin
		}
		if c.Dir != "" {
			s.Dir = c.Dir
		}
		var err error
		if s.Refresh, err = duration("refresh", c.Refresh, DefaultRefresh); err != nil {
			return s, err
		}
		if s.Timeout, err = duration("timeout", c.Timeout, DefaultTimeout); err != nil {
			return s, err
		}
	}
	if !filepath.IsAbs(s.Dir) {
		s.Dir = filepath.Join(filepath.Dir(configPath), s.Dir)
	}
	return s, nil
}

func duration(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s = %q is not a positive duration such as \"5m\"", name, s)
	}
	return d, nil
}
