package db

import (
	"context"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// tenantHook stamps every query span with the tenant of the transaction it runs in.
// It is added after bunotel's hook, so the span in ctx is the query's own.
type tenantHook struct{}

var _ bun.QueryHook = tenantHook{}

func (tenantHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	if t := telemetry.TenantID(ctx); t != "" {
		trace.SpanFromContext(ctx).SetAttributes(telemetry.TenantAttr(t))
	}
	return ctx
}

func (tenantHook) AfterQuery(context.Context, *bun.QueryEvent) {}
