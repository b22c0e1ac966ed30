package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Context keys are distinct unexported types so no other package can read or forge
// the values except through the functions below.
type (
	tenantKey    struct{}
	requestIDKey struct{}
	clientKey    struct{}
)

// client is the caller as the HTTP layer saw it.
type client struct{ ip, userAgent string }

// tenantAttrKey is the span attribute key for the tenant, shared by every package
// so that traces can be filtered by tenant with one query.
const tenantAttrKey = attribute.Key("tenant.id")

// WithTenant returns a copy of ctx carrying tenantID. Only authentication should
// call it: the tenant in the context is what every query is scoped to.
func WithTenant(ctx context.Context, tenantID string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenantID)
}

// TenantID returns the tenant id carried by ctx, or "" when there is none.
func TenantID(ctx context.Context) string {
	id, _ := ctx.Value(tenantKey{}).(string)
	return id
}

// WithRequestID returns a copy of ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id carried by ctx, or "" when there is none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithClient returns a copy of ctx carrying the caller's address and user agent,
// which fraud policies read.
func WithClient(ctx context.Context, ip, userAgent string) context.Context {
	return context.WithValue(ctx, clientKey{}, client{ip, userAgent})
}

// ClientIP returns the caller's address carried by ctx, or "".
func ClientIP(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(client)
	return c.ip
}

// UserAgent returns the caller's user agent carried by ctx, or "".
func UserAgent(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(client)
	return c.userAgent
}

// TraceID returns the hex trace id of the span in ctx, or "".
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// spanID returns the hex id of the span in ctx, or "".
func spanID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasSpanID() {
		return ""
	}
	return sc.SpanID().String()
}

// TenantAttr is the span attribute carrying the tenant id (key "tenant.id").
func TenantAttr(tenantID string) attribute.KeyValue {
	return tenantAttrKey.String(tenantID)
}
