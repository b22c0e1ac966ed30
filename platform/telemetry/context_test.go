package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

func TestContextValues(t *testing.T) {
	remote := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	}))

	tests := []struct {
		name                           string
		ctx                            context.Context
		wantTenant, wantReq, wantTrace string
	}{
		{name: "empty", ctx: context.Background()},
		{name: "tenant", ctx: WithTenant(context.Background(), "ten_1"), wantTenant: "ten_1"},
		{name: "request id", ctx: WithRequestID(context.Background(), "req_1"), wantReq: "req_1"},
		{name: "inner tenant wins", ctx: WithTenant(WithTenant(context.Background(), "ten_1"), "ten_2"), wantTenant: "ten_2"},
		{name: "span", ctx: WithTenant(remote, "ten_1"), wantTenant: "ten_1", wantTrace: "4bf92f3577b34da6a3ce929d0e0e4736"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TenantID(tt.ctx); got != tt.wantTenant {
				t.Errorf("TenantID = %q, want %q", got, tt.wantTenant)
			}
			if got := RequestID(tt.ctx); got != tt.wantReq {
				t.Errorf("RequestID = %q, want %q", got, tt.wantReq)
			}
			if got := TraceID(tt.ctx); got != tt.wantTrace {
				t.Errorf("TraceID = %q, want %q", got, tt.wantTrace)
			}
		})
	}
}

func TestTenantAttr(t *testing.T) {
	got := TenantAttr("ten_1")
	want := attribute.String("tenant.id", "ten_1")
	if got != want {
		t.Errorf("TenantAttr = %v, want %v", got, want)
	}
}
