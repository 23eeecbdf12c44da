package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// logFlags are the --log-level and --log-format flags of the daemons
// (agent, broker).
type logFlags struct {
	level, format *string
}

// addLogFlags declares --log-level and --log-format on fs.
func addLogFlags(fs *flag.FlagSet) *logFlags {
	return &logFlags{
		level:  fs.String("log-level", "info", "log level: debug, info, warn, error"),
		format: fs.String("log-format", "text", "log line format: text (logfmt key=value) or json (one object a line: time, level, msg, ...)"),
	}
}

// logger builds the logger the flags describe, writing to w; min raises
// the level (the broker's --quiet). A bad value is an error naming the flag.
func (l *logFlags) logger(w io.Writer, min slog.Level) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*l.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", *l.level)
	}
	opts := &slog.HandlerOptions{Level: max(lvl, min)}
	switch *l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", *l.format)
}
