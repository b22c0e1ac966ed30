package redemption

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
)

// BenchmarkValidate is one validation without HTTP, the request of punchbench's
// validate scenarios (one voucher, two order lines, a known customer) spread over
// 100 customers, with a recording tracer as serving has: its time and allocations
// per validation are the engine's share of the scenario's. It runs on each of
// dbtest's databases; on PostgreSQL one client's time per validation is mostly
// its statements' round trips. The clock moves 100 ms per validation, so
// that no customer nears the fraud policy's validations per minute however long
// the benchmark runs.
func BenchmarkValidate(b *testing.B) {
	for _, d := range dbtest.Databases(b) {
		b.Run(d.Name, func(b *testing.B) { benchmarkValidate(b, d.Options) })
	}
}

func benchmarkValidate(b *testing.B, opts db.Options) {
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider()
	opts.TracerProvider = tp
	var clock dbtest.Clock
	env := newGuardEnv(b, dbtest.Open(b, opts), clock.Now)
	_, v := env.campaign(b, `{}`)
	const spread = 100
	cs := customers.NewService(env.db, env.audit, clock.Now)
	for n := range spread {
		if _, _, err := cs.Upsert(ctx, env.tenantID, customers.Input{SourceID: customers.Some(fmt.Sprintf("c-%d", n))}); err != nil {
			b.Fatal(err)
		}
	}
	e := env.engine(b, clock.Now, tp)
	t := Tenant{ID: env.tenantID, Slug: "bench", Currency: "EUR", Timezone: "Europe/Berlin"}
	bodies := make([][]byte, spread)
	for n := range bodies {
		bodies[n] = []byte(`{"redeemables":[{"object":"voucher","id":"` + v.Code + `"}],` +
			`"order":{"items":[{"product_id":"shoes","quantity":1,"price":8000},{"product_id":"socks","quantity":2,"price":1000}]},` +
			`"customer":{"source_id":"c-` + fmt.Sprint(n) + `"},"metadata":{"channel":"online"}}`)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		// Decoded afresh each time, as the API does: Validate completes the
		// request's order in place.
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
