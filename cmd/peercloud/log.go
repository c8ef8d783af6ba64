package main

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logOptions are the logging settings of the command line.
type logOptions struct {
	verbose, quiet bool
	file           string    // also log here (created or truncated), "" for none
	out            io.Writer // the terminal or journal (stdout, as VpnCloud)
	journal        bool      // stdout is the systemd journal: it adds time stamps
	// level, when set, is the level the logger follows (SIGHUP changes it);
	// newLogger sets it from verbose and quiet.
	level *zap.AtomicLevel
	// fileLevel is the config file's peercloud.log-level.
	fileLevel string
}

// levelFor is the level of -v, -q, or else of the config file's
// peercloud.log-level (validated), else info.
func levelFor(verbose, quiet bool, fileLevel string) zapcore.Level {
	switch {
	case verbose:
		return zapcore.DebugLevel
	case quiet:
		return zapcore.WarnLevel
	}
	if l, err := zapcore.ParseLevel(fileLevel); err == nil && fileLevel != "" {
		return l
	}
	return zapcore.InfoLevel
}

// newLogger builds the one *zap.Logger handed down to everything: a console
// encoder (time, level, message, key=value fields) at debug with -v, warnings
// and errors only with -q, info otherwise (an atomic level: a reload may
// change it). The returned close function syncs
// and closes the log file.
func newLogger(o logOptions) (*zap.Logger, func(), error) {
	level := zap.NewAtomicLevelAt(levelFor(o.verbose, o.quiet, o.fileLevel))
	if o.level != nil {
		o.level.SetLevel(level.Level())
		level = *o.level
	}
	encCfg := zapcore.EncoderConfig{
		TimeKey:          "time",
		LevelKey:         "level",
		NameKey:          "logger",
		MessageKey:       "msg",
		StacktraceKey:    "stack",
		LineEnding:       zapcore.DefaultLineEnding,
		EncodeLevel:      zapcore.CapitalLevelEncoder,
		EncodeTime:       zapcore.TimeEncoderOfLayout("2006-01-02 15:04:05"),
		EncodeDuration:   zapcore.StringDurationEncoder,
		EncodeName:       zapcore.FullNameEncoder,
		ConsoleSeparator: " ",
	}
	termCfg := encCfg
	if o.journal {
		termCfg.TimeKey = "" // the journal stamps every line itself
		termCfg.EncodeLevel = journalLevel
	}
	cores := []zapcore.Core{zapcore.NewCore(zapcore.NewConsoleEncoder(termCfg), zapcore.AddSync(o.out), level)}
	closeFn := func() {}
	if o.file != "" {
		f, err := os.OpenFile(o.file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file: %w", err)
		}
		cores = append(cores, zapcore.NewCore(zapcore.NewConsoleEncoder(encCfg), zapcore.AddSync(f), level))
		closeFn = func() { _ = f.Sync(); _ = f.Close() }
	}
	log := zap.New(zapcore.NewTee(cores...), zap.ErrorOutput(zapcore.AddSync(o.out)))
	return log, func() { _ = log.Sync(); closeFn() }, nil
}

// journalLevel prefixes the level with its syslog priority (sd-daemon(3)):
// journald takes "<N>" at the start of a line as the entry's priority and
// strips it, so `journalctl -p warning` and its colours work.
func journalLevel(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	prio := "<6>" // info
	switch {
	case l <= zapcore.DebugLevel:
		prio = "<7>"
	case l == zapcore.WarnLevel:
		prio = "<4>"
	case l == zapcore.ErrorLevel:
		prio = "<3>"
	case l > zapcore.ErrorLevel:
		prio = "<2>"
	}
	enc.AppendString(prio + l.CapitalString())
}
