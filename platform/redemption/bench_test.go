package redemption

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// BenchmarkValidate is one validation on SQLite without HTTP, the request of
// punchbench's validate scenarios (one voucher, two order lines, a known
// customer) spread over 100 customers, with a recording tracer as serving has:
// its time and allocations per validation are the engine's share of the
// scenario's. The clock moves 100 ms per validation, so that no customer nears
// the fraud policy's validations per minute however long the benchmark runs.
func BenchmarkValidate(b *testing.B) {
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider()
	d := dbtest.Open(b, db.Options{DataDir: b.TempDir(), TracerProvider: tp})
	tenantID := dbtest.Tenants(b, d, time.Now, 1)[0]
	a := audit.New(d, time.Now, slog.New(slog.DiscardHandler))
	var in campaigns.CampaignInput
	if err := json.Unmarshal([]byte(`{"name":"bench","campaign_type":"DISCOUNT_COUPONS","vouchers_count":1,
		"voucher":{"discount":{"type":"PERCENT","percent_off":10}}}`), &in); err != nil {
		b.Fatal(err)
	}
	camps := campaigns.NewService(d, a, time.Now)
	c, err := camps.Create(ctx, tenantID, in)
	if err != nil {
		b.Fatal(err)
	}
	vs, _, err := camps.ListVouchers(ctx, tenantID, c.ID, 1, "")
	if err != nil || len(vs) != 1 {
		b.Fatalf("voucher: %v", err)
	}
	const spread = 100
	cs := customers.NewService(d, a, time.Now)
	for n := range spread {
		if _, _, err := cs.Upsert(ctx, tenantID, customers.Input{SourceID: customers.Some(fmt.Sprintf("c-%d", n))}); err != nil {
			b.Fatal(err)
		}
	}
	pe, err := policies.New(policies.Options{TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	var clock dbtest.Clock
	e := NewEngine(d, NewSettings(d, a, clock.Now), pe, a, clock.Now, tp)
	t := Tenant{ID: tenantID, Slug: "bench", Currency: "EUR", Timezone: "Europe/Berlin"}
	bodies := make([][]byte, spread)
	for n := range bodies {
		bodies[n] = []byte(`{"redeemables":[{"object":"voucher","id":"` + vs[0].Code + `"}],` +
			`"order":{"items":[{"product_id":"shoes","quantity":1,"price":8000},{"product_id":"socks","quantity":2,"price":1000}]},` +
			`"customer":{"source_id":"c-` + fmt.Sprint(n) + `"},"metadata":{"channel":"online"}}`)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		var req Request
		if err := json.Unmarshal(bodies[n%spread], &req); err != nil {
			b.Fatal(err)
		}
		n++
		clock.Add(100 * time.Millisecond)
		res, err := e.Validate(ctx, t, req)
		if err != nil || !res.Valid || res.Totals.DiscountAmount != 1000 {
			b.Fatalf("validation: valid %v, discount %d, %v", res.Valid, res.Totals.DiscountAmount, err)
		}
	}
}
