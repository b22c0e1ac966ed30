package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// PersonalAttributes are the span attributes instrumentation libraries record that
// identify a person: the client's address and user agent. Punchcard never exports
// them (GDPR: an IP address is personal data).
var PersonalAttributes = []attribute.Key{
	"client.address", "client.port", "network.peer.address", "network.peer.port",
	"user_agent.original", "http.client_ip", "net.sock.peer.addr", "net.sock.peer.port",
}

// WithoutAttributes wraps tp so that the spans its tracers start leave out the
// given attributes. It is for instrumentation Punchcard does not own (otelgin),
// which sets such attributes when it starts a span.
func WithoutAttributes(tp trace.TracerProvider, keys ...attribute.Key) trace.TracerProvider {
	drop := make(map[attribute.Key]bool, len(keys))
	for _, k := range keys {
		drop[k] = true
	}
	return redactingProvider{inner: tp, drop: drop}
}

type redactingProvider struct {
	embedded.TracerProvider
	inner trace.TracerProvider
	drop  map[attribute.Key]bool
}

func (p redactingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return redactingTracer{inner: p.inner.Tracer(name, opts...), drop: p.drop}
}

type redactingTracer struct {
	embedded.Tracer
	inner trace.Tracer
	drop  map[attribute.Key]bool
}

func (t redactingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	keep := make([]attribute.KeyValue, 0, len(cfg.Attributes()))
	for _, a := range cfg.Attributes() {
		if !t.drop[a.Key] {
			keep = append(keep, a)
		}
	}
	out := []trace.SpanStartOption{trace.WithAttributes(keep...), trace.WithSpanKind(cfg.SpanKind()), trace.WithLinks(cfg.Links()...)}
	if ts := cfg.Timestamp(); !ts.IsZero() {
		out = append(out, trace.WithTimestamp(ts))
	}
	if cfg.NewRoot() {
		out = append(out, trace.WithNewRoot())
	}
	return t.inner.Start(ctx, name, out...)
}
