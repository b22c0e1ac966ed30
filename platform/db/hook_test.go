package db_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
)

// openTraced migrates and opens the database of opts with recorded spans and
// metrics, closed when the test ends.
func openTraced(t *testing.T, opts db.Options) (*db.DB, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	opts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	return dbtest.Open(t, opts), rec, reader
}

// eachTraced runs test on each database, opened with recorded spans and metrics.
func eachTraced(t *testing.T, test func(t *testing.T, name string, d *db.DB, rec *tracetest.SpanRecorder, reader *sdkmetric.ManualReader)) {
	for name, opts := range urls(t) {
		t.Run(name, func(t *testing.T) {
			d, rec, reader := openTraced(t, opts)
			test(t, name, d, rec, reader)
		})
	}
}

// secret is a bound value that no span may carry.
const secret = "canary.value@example.com"

// attributes are a span's attributes as strings; it fails the test on any that
// carries secret.
func attributes(t *testing.T, sp sdktrace.ReadOnlySpan) map[string]string {
	t.Helper()
	attrs := map[string]string{}
	for _, a := range sp.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
		if strings.Contains(attrs[string(a.Key)], secret) {
			t.Errorf("span %q attribute %s carries a bound value", sp.Name(), a.Key)
		}
	}
	return attrs
}

// Query spans carry the tenant and the query with placeholders; bound values and
// database error messages (which quote values) never reach them.
func TestQuerySpansCarryTenantButNoValues(t *testing.T) {
	ctx := context.Background()
	eachTraced(t, func(t *testing.T, name string, d *db.DB, rec *tracetest.SpanRecorder, reader *sdkmetric.ManualReader) {
		tenantID := "ten_hook_" + name
		err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
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
			attrs := attributes(t, sp)
			sawSelect = sawSelect || strings.Contains(attrs["db.query.text"], "email = ?")
			if attrs["tenant.id"] != tenantID {
				t.Errorf("span %q has tenant.id %q, want %q", sp.Name(), attrs["tenant.id"], tenantID)
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
		// The select is labelled with its system, operation and table.
		found := false
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				h, ok := m.Data.(metricdata.Histogram[float64])
				if m.Name != "db.client.operation.duration" || !ok {
					continue
				}
				for _, dp := range h.DataPoints {
					sys, _ := dp.Attributes.Value("db.system.name")
					op, _ := dp.Attributes.Value("db.operation.name")
					table, _ := dp.Attributes.Value("db.collection.name")
					found = found || (sys.AsString() != "" && op.AsString() == "SELECT" && table.AsString() == "customers" && dp.Count > 0)
				}
			}
		}
		if !found {
			t.Fatalf("no db.client.operation.duration point for SELECT on customers in %+v", rm.ScopeMetrics)
		}
	})
}

// A prepared Statement's span is the query hook's: named by operation and
// table, with the tenant and the text with placeholders, never the values.
func TestPreparedStatementSpans(t *testing.T) {
	ctx := context.Background()
	eachTraced(t, func(t *testing.T, name string, d *db.DB, rec *tracetest.SpanRecorder, _ *sdkmetric.ManualReader) {
		tenantID := "ten_stmt_" + name
		read := func() {
			err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				var n int64
				return customersByEmail.Scan(ctx, tx, &n, 0, tenantID, secret)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for read(); !db.PreparedOn(customersByEmail, d, 0); read() {
			if time.Now().After(deadline) {
				t.Fatal("statement not prepared after 10s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		seen := len(rec.Ended())
		read()
		var got []string
		for _, sp := range rec.Ended()[seen:] {
			attrs := attributes(t, sp)
			got = append(got, fmt.Sprintf("%s tenant=%s text=%s", sp.Name(), attrs["tenant.id"], attrs["db.query.text"]))
		}
		want := "SELECT customers tenant=" + tenantID + " text=" + customersByEmailSQL
		if !slices.Contains(got, want) {
			t.Fatalf("spans of the prepared read: %q, want one %q", got, want)
		}
	})
}

const customersByEmailSQL = "SELECT count(*) FROM customers WHERE tenant_id = ? AND email = ?"

var customersByEmail = db.NewRawStatement("SELECT", "customers", customersByEmailSQL)

// On PostgreSQL a transaction's row-level security settings travel with its
// BEGIN, so they cost no statement of their own; a value that cannot be written
// as a literal is still set, with a bind parameter.
func TestTransactionSettingsTravelWithBegin(t *testing.T) {
	ctx := context.Background()
	d, rec, _ := openTraced(t, db.Options{URL: postgresURL(t)})
	// setStatements counts the set_config statements among the spans from i on.
	setStatements := func(i int) (n int) {
		for _, sp := range rec.Ended()[i:] {
			if strings.Contains(attributes(t, sp)["db.query.text"], "set_config") {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		tenantID string
		sets     int // set_config statements of their own
	}{
		{"ten_01KBEGINFOLD", 0},
		{"ten_o'begin", 1},
	} {
		for _, run := range []func(context.Context, string, func(context.Context, bun.Tx) error) error{d.Read, d.InTx} {
			before := len(rec.Ended())
			var setting string
			err := run(ctx, tc.tenantID, func(ctx context.Context, tx bun.Tx) error {
				return tx.QueryRowContext(ctx, "SELECT current_setting('punchcard.tenant_id', true)").Scan(&setting)
			})
			if err != nil || setting != tc.tenantID {
				t.Fatalf("tenant %q: setting in the transaction = %q, %v", tc.tenantID, setting, err)
			}
			if n := setStatements(before); n != tc.sets {
				t.Errorf("tenant %q: %d set_config statements, want %d", tc.tenantID, n, tc.sets)
			}
		}
	}
	var scope, tenant string
	err := d.InInstanceTx(ctx, "ten_01KBEGINFOLD", func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT current_setting('punchcard.scope', true), current_setting('punchcard.tenant_id', true)").Scan(&scope, &tenant)
	})
	if err != nil || scope != "instance" || tenant != "ten_01KBEGINFOLD" {
		t.Fatalf("instance transaction settings = %q, %q, %v", scope, tenant, err)
	}
}

// BenchmarkTenantRead is a read-only tenant transaction of one query on
// PostgreSQL, with the settings sent with BEGIN and (a tenant id that must be
// bound) as a statement of their own: the round trip the first saves.
func BenchmarkTenantRead(b *testing.B) {
	ctx := context.Background()
	d := dbtest.Open(b, db.Options{URL: postgresURL(b)})
	for _, tc := range []struct{ name, tenantID string }{
		{"settings-with-begin", "ten_01KBENCHREAD"},
		{"settings-statement", "ten_o'benchread"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				var n int
				if err := d.Read(ctx, tc.tenantID, func(ctx context.Context, tx bun.Tx) error {
					return tx.QueryRowContext(ctx, "SELECT count(*) FROM customers WHERE tenant_id = ?", tc.tenantID).Scan(&n)
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
