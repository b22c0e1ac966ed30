package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/punchcard-loyalty/punchcard/platform/db"
)

// Query spans carry the tenant and the query with placeholders; bound values and
// database error messages (which quote values) never reach them.
func TestQuerySpansCarryTenantButNoValues(t *testing.T) {
	ctx := context.Background()
	for name, opts := range urls(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := db.Migrate(ctx, opts); err != nil {
				t.Fatal(err)
			}
			rec := tracetest.NewSpanRecorder()
			reader := sdkmetric.NewManualReader()
			opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			opts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			d, err := db.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			const secret = "canary.value@example.com"
			tenantID := "ten_hook_" + name
			err = d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				var n int
				return tx.NewSelect().Table("customers").ColumnExpr("count(*)").
					Where("tenant_id = ?", tenantID).Where("email = ?", secret).Scan(ctx, &n)
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO customers (tenant_id, id) VALUES (?, ?), (?, ?)", tenantID, secret, tenantID, secret)
				return err
			})

			var sawSelect, sawFailure bool
			for _, sp := range rec.Ended() {
				var tenant string
				for _, a := range sp.Attributes() {
					if strings.Contains(a.Value.String(), secret) {
						t.Errorf("span %q attribute %s carries a bound value", sp.Name(), a.Key)
					}
					if a.Key == "tenant.id" {
						tenant = a.Value.AsString()
					}
					if a.Key == "db.query.text" && strings.Contains(a.Value.AsString(), "email = ?") {
						sawSelect = true
					}
				}
				if tenant != tenantID {
					t.Errorf("span %q has tenant.id %q, want %q", sp.Name(), tenant, tenantID)
				}
				if strings.Contains(sp.Status().Description, secret) {
					t.Errorf("span %q status quotes a value: %s", sp.Name(), sp.Status().Description)
				}
				if sp.Status().Code == codes.Error {
					sawFailure = true
				}
			}
			if !sawSelect || !sawFailure {
				t.Fatalf("recorded %d spans; saw the select with placeholders: %v, a failed insert: %v", len(rec.Ended()), sawSelect, sawFailure)
			}
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(ctx, &rm); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					found = found || m.Name == "db.client.operation.duration"
				}
			}
			if !found {
				t.Fatal("no db.client.operation.duration metric recorded")
			}
		})
	}
}
