package state

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newRaftLogger returns an hclog.Logger that forwards raft's warnings and
// errors to l (raft is chatty at info level). Nothing is formatted below
// warn level.
func newRaftLogger(l *slog.Logger) hclog.Logger {
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Warn,
		Output: io.Discard,
	})
	il.RegisterSink(slogSink{l: l})
	return il
}

type slogSink struct{ l *slog.Logger }

func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	var lvl slog.Level
	switch {
	case level >= hclog.Error:
		lvl = slog.LevelError
	case level >= hclog.Warn:
		lvl = slog.LevelWarn
	default:
		return
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, len(args)/2+1)
	attrs = append(attrs, slog.String("component", name))
	for i := 0; i+1 < len(args); i += 2 {
		attrs = append(attrs, slog.Any(fmt.Sprint(args[i]), args[i+1]))
	}
	if len(args)%2 == 1 {
		attrs = append(attrs, slog.Any("EXTRA_VALUE", args[len(args)-1]))
	}
	s.l.LogAttrs(ctx, lvl, msg, attrs...)
}
