package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestNewLoggerContextIDs(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	spanCtx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	wantTrace := span.SpanContext().TraceID().String()
	wantSpan := span.SpanContext().SpanID().String()

	full := WithRequestID(WithTenant(spanCtx, "ten_1"), "req_1")

	tests := []struct {
		name string
		ctx  context.Context
		log  func(l *slog.Logger, ctx context.Context)
		want map[string]string // top-level keys that must be present; absent keys listed as ""
	}{
		{
			name: "all ids",
			ctx:  full,
			log:  func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
			want: map[string]string{"trace_id": wantTrace, "span_id": wantSpan, "tenant_id": "ten_1", "request_id": "req_1"},
		},
		{
			name: "no ids",
			ctx:  context.Background(),
			log:  func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
			want: map[string]string{"trace_id": "", "span_id": "", "tenant_id": "", "request_id": ""},
		},
		{
			name: "request id only",
			ctx:  WithRequestID(context.Background(), "req_2"),
			log:  func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
			want: map[string]string{"trace_id": "", "span_id": "", "tenant_id": "", "request_id": "req_2"},
		},
		{
			name: "logged without context",
			ctx:  full,
			log:  func(l *slog.Logger, _ context.Context) { l.Info("hello") },
			want: map[string]string{"trace_id": "", "tenant_id": "", "request_id": ""},
		},
		{
			name: "ids survive With",
			ctx:  full,
			log: func(l *slog.Logger, ctx context.Context) {
				l.With("component", "httpapi").InfoContext(ctx, "hello")
			},
			want: map[string]string{"trace_id": wantTrace, "tenant_id": "ten_1", "request_id": "req_1", "component": "httpapi"},
		},
		{
			name: "ids stay top-level under WithGroup",
			ctx:  full,
			log: func(l *slog.Logger, ctx context.Context) {
				l.With("component", "sealer").WithGroup("audit").With("batch", "b1").InfoContext(ctx, "hello", "events", "3")
			},
			want: map[string]string{"trace_id": wantTrace, "span_id": wantSpan, "tenant_id": "ten_1", "request_id": "req_1", "component": "sealer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(NewLogger(&buf, slog.LevelInfo), tt.ctx)

			record := decode(t, buf.Bytes())
			if record["msg"] != "hello" {
				t.Errorf("msg = %v, want hello", record["msg"])
			}
			for key, want := range tt.want {
				got, present := record[key]
				switch {
				case want == "" && present:
					t.Errorf("%s = %v, want it omitted", key, got)
				case want != "" && got != want:
					t.Errorf("%s = %v, want %q", key, got, want)
				}
			}
		})
	}
}

func TestNewLoggerGroupKeepsAttributesGrouped(t *testing.T) {
	var buf bytes.Buffer
	ctx := WithTenant(context.Background(), "ten_1")
	NewLogger(&buf, slog.LevelInfo).WithGroup("audit").With("batch", "b1").InfoContext(ctx, "sealed", "events", 3)

	record := decode(t, buf.Bytes())
	group, ok := record["audit"].(map[string]any)
	if !ok {
		t.Fatalf("audit group missing: %s", buf.String())
	}
	if group["batch"] != "b1" || group["events"] != float64(3) {
		t.Errorf("audit group = %v, want batch=b1 events=3", group)
	}
	if _, nested := group["tenant_id"]; nested {
		t.Errorf("tenant_id nested in group: %s", buf.String())
	}
	if record["tenant_id"] != "ten_1" {
		t.Errorf("tenant_id = %v, want ten_1", record["tenant_id"])
	}
}

func TestNewLoggerLevel(t *testing.T) {
	tests := []struct {
		level     slog.Level
		logAt     slog.Level
		wantWrite bool
	}{
		{level: slog.LevelInfo, logAt: slog.LevelDebug, wantWrite: false},
		{level: slog.LevelInfo, logAt: slog.LevelInfo, wantWrite: true},
		{level: slog.LevelWarn, logAt: slog.LevelInfo, wantWrite: false},
		{level: slog.LevelDebug, logAt: slog.LevelDebug, wantWrite: true},
	}
	for _, tt := range tests {
		t.Run(tt.level.String()+"/"+tt.logAt.String(), func(t *testing.T) {
			var buf bytes.Buffer
			NewLogger(&buf, tt.level).Log(context.Background(), tt.logAt, "x")
			if got := buf.Len() > 0; got != tt.wantWrite {
				t.Errorf("wrote = %v, want %v (output %q)", got, tt.wantWrite, buf.String())
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "INFO", want: slog.LevelInfo},
		{in: "Warn", want: slog.LevelWarn},
		{in: " error ", want: slog.LevelError},
		{in: "verbose", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLevel(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseLevel(%q) = %v, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Errorf("error %q does not name the value %q", err, tt.in)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func decode(t *testing.T, line []byte) map[string]any {
	t.Helper()
	if n := bytes.Count(line, []byte("\n")); n != 1 {
		t.Fatalf("want exactly one JSON line, got %d: %s", n, line)
	}
	var record map[string]any
	if err := json.Unmarshal(line, &record); err != nil {
		t.Fatalf("output is not JSON: %v: %s", err, line)
	}
	return record
}
