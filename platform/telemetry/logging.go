package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// Log attribute keys added from the context. They are top-level and snake_case so
// that log queries and the trace backend's log correlation can rely on them.
const (
	logKeyTraceID   = "trace_id"
	logKeySpanID    = "span_id"
	logKeyTenantID  = "tenant_id"
	logKeyRequestID = "request_id"
)

// NewLogger returns a JSON slog logger writing to w at level whose records carry
// trace_id, span_id, tenant_id and request_id taken from the context of each record
// (when present). Only the *Context logging methods (InfoContext and so on) pass a
// context; records logged without one carry none of these ids.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	base := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(newContextHandler(base))
}

// ParseLevel parses "debug|info|warn|error" (case-insensitive), error naming the value otherwise.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("parse log level: unknown level %q (want debug, info, warn or error)", s)
}

// contextHandler adds the ids found in each record's context to the record.
//
// The ids must stay top-level even under WithGroup, or a logger grouped by some
// component would write "component.trace_id" and break correlation. slog offers no
// way to add a top-level attribute once a group is open, so the handler remembers
// the handler as it was before the first group (root) and the operations applied
// after it (ops); a record that carries ids and is logged under a group is handled
// by root.WithAttrs(ids) with ops replayed. Records without groups, the usual case,
// take the cheap path of appending to the record.
type contextHandler struct {
	root  slog.Handler // the wrapped handler with every WithAttrs before the first group
	ops   []handlerOp  // WithAttrs and WithGroup calls from the first group on
	inner slog.Handler // root with ops applied
}

// handlerOp is one WithGroup (group != "") or WithAttrs (attrs) call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

func newContextHandler(h slog.Handler) *contextHandler {
	return &contextHandler{root: h, inner: h}
}

// Enabled reports whether the wrapped handler handles records at level.
func (h *contextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle adds the context's ids to r and passes it to the wrapped handler.
func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	ids := contextAttrs(ctx)
	if len(ids) == 0 {
		return h.inner.Handle(ctx, r)
	}
	if len(h.ops) == 0 {
		// Clone, because the caller may still own a copy of r sharing its attrs.
		r = r.Clone()
		r.AddAttrs(ids...)
		return h.inner.Handle(ctx, r)
	}
	inner := h.root.WithAttrs(ids)
	for _, op := range h.ops {
		if op.group != "" {
			inner = inner.WithGroup(op.group)
		} else {
			inner = inner.WithAttrs(op.attrs)
		}
	}
	return inner.Handle(ctx, r)
}

// WithAttrs returns a handler that adds attrs to every record and still adds the
// context's ids.
func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.ops) == 0 {
		root := h.root.WithAttrs(attrs)
		return &contextHandler{root: root, inner: root}
	}
	return &contextHandler{
		root:  h.root,
		ops:   append(slices.Clip(h.ops), handlerOp{attrs: attrs}),
		inner: h.inner.WithAttrs(attrs),
	}
}

// WithGroup returns a handler that nests later attributes under name and still adds
// the context's ids at the top level.
func (h *contextHandler) WithGroup(name string) slog.Handler {
	// slog defines an empty group name as no group.
	if name == "" {
		return h
	}
	return &contextHandler{
		root:  h.root,
		ops:   append(slices.Clip(h.ops), handlerOp{group: name}),
		inner: h.inner.WithGroup(name),
	}
}

// contextAttrs returns the ids present in ctx as log attributes.
func contextAttrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	var attrs []slog.Attr
	if id := TraceID(ctx); id != "" {
		attrs = append(attrs, slog.String(logKeyTraceID, id))
	}
	if id := spanID(ctx); id != "" {
		attrs = append(attrs, slog.String(logKeySpanID, id))
	}
	if id := TenantID(ctx); id != "" {
		attrs = append(attrs, slog.String(logKeyTenantID, id))
	}
	if id := RequestID(ctx); id != "" {
		attrs = append(attrs, slog.String(logKeyRequestID, id))
	}
	return attrs
}
