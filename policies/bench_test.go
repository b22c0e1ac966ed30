package policies

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// BenchmarkEvaluateEligibility measures one eligibility decision through the
// Engine with a warm cache: cache lookup, input conversion, evaluation under a
// deadline, decoding and the span (no-op tracer provider by default).
func BenchmarkEvaluateEligibility(b *testing.B) {
	e := newTestEngine(b, Options{})
	ctx := context.Background()
	input := eligibilityInput()
	if d, err := e.Evaluate(ctx, "ten_01", Eligibility, input); err != nil || !d.Allowed() {
		b.Fatalf("warm-up: %+v, %v", d, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Evaluate(ctx, "ten_01", Eligibility, input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawPreparedEligibility evaluates the same base modules and input
// with a plain rego.PrepareForEval, the floor the Engine's overhead is measured
// against. The sub-benchmarks compare the two ways of passing input (the Engine
// uses the faster) and the engine's decision query with querying the whole package.
func BenchmarkRawPreparedEligibility(b *testing.B) {
	input := eligibilityInput()
	prepare := func(b *testing.B, query string) rego.PreparedEvalQuery {
		opts := []func(*rego.Rego){rego.Query(query)}
		for name, src := range Base(Eligibility) {
			opts = append(opts, rego.Module(name, src))
		}
		pq, err := rego.New(opts...).PrepareForEval(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return pq
	}
	run := func(b *testing.B, pq rego.PreparedEvalQuery, opt func() rego.EvalOption) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			rs, err := pq.Eval(ctx, opt())
			if err != nil || len(rs) != 1 {
				b.Fatalf("Eval: %v, %d results", err, len(rs))
			}
		}
	}
	b.Run("EvalInput", func(b *testing.B) {
		run(b, prepare(b, queries[Eligibility]), func() rego.EvalOption { return rego.EvalInput(input) })
	})
	b.Run("EvalParsedInput", func(b *testing.B) {
		run(b, prepare(b, queries[Eligibility]), func() rego.EvalOption {
			v, err := ast.InterfaceToValue(input)
			if err != nil {
				b.Fatal(err)
			}
			return rego.EvalParsedInput(v)
		})
	})
	b.Run("PackageQuery", func(b *testing.B) {
		run(b, prepare(b, "data.punchcard.eligibility"), func() rego.EvalOption { return rego.EvalInput(input) })
	})
}

// One request's three decisions, converting the whole input each time or the
// shared part once.
func BenchmarkRequestWholeInputs(b *testing.B) {
	e := newTestEngine(b, Options{})
	ctx, in := context.Background(), eligibilityInput()
	for b.Loop() {
		for range 3 {
			if _, err := e.Evaluate(ctx, "ten_01", Eligibility, in); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkRequestSharedDocument(b *testing.B) {
	e := newTestEngine(b, Options{})
	ctx, in := context.Background(), eligibilityInput()
	shared, own := map[string]any{}, map[string]any{"redeemable": in["redeemable"]}
	for k, v := range in {
		if k != "redeemable" {
			shared[k] = v
		}
	}
	for b.Loop() {
		doc, err := NewDocument(shared)
		if err != nil {
			b.Fatal(err)
		}
		for range 3 {
			if _, err := e.EvaluateDocument(ctx, "ten_01", Eligibility, doc, own); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// tenantModules are three realistic eligibility modules of about 50 lines each,
// varied by tenant n so that no two tenants compile the same source.
func tenantModules(n int) Modules {
	return Modules{
		"tenant/blocklist.rego": fmt.Sprintf(`package punchcard.eligibility

# Customers and stores the tenant has blocked, and the campaigns they are
# blocked from (all campaigns when the list is empty).
blocked_customer contains id if {
	some id in data.tenant.blocked_customers
}

blocked_store contains store if {
	some store in data.tenant.blocked_stores
}

campaign_restricted if {
	count(object.get(data.tenant, "restricted_campaigns", [])) == 0
}

campaign_restricted if {
	input.redeemable.campaign.id in data.tenant.restricted_campaigns
}

deny contains {
	"code": "customer_blocked",
	"message": "This customer cannot redeem promotions.",
	"rule": "tenant%[1]d.blocked_customer",
} if {
	campaign_restricted
	input.customer.id in blocked_customer
}

deny contains {
	"code": "store_blocked",
	"message": "Promotions are not available in this store.",
	"rule": "tenant%[1]d.blocked_store",
} if {
	campaign_restricted
	input.order.metadata.store in blocked_store
}

deny contains {
	"code": "customer_required",
	"message": "Sign in to use this promotion.",
	"rule": "tenant%[1]d.customer_required",
} if {
	input.channel == "online"
	input.customer == null
}
`, n),
		"tenant/basket.rego": fmt.Sprintf(`package punchcard.eligibility

# Basket rules: a minimum number of items, a maximum discount share and
# products that never take part in promotions.
min_items := %[1]d %% 3 + 1

never_discounted := {"prod_gift_card", "prod_deposit", "prod_tobacco"}

item_count := sum([item.quantity | some item in input.order.items])

discounted_amount := sum([item.amount |
	some item in input.order.items
	not item.product_id in never_discounted
])

deny contains {
	"code": "order_rules_violated",
	"message": sprintf("Add at least %%d items to use this promotion.", [min_items]),
	"rule": "tenant%[1]d.min_items",
} if {
	input.order != null
	item_count < min_items
}

deny contains {
	"code": "order_rules_violated",
	"message": "Only gift cards and deposits in the order.",
	"rule": "tenant%[1]d.never_discounted",
} if {
	count(input.order.items) > 0
	discounted_amount == 0
}

deny contains {
	"code": "order_rules_violated",
	"message": "The order is above the promotion's maximum.",
	"rule": "tenant%[1]d.max_order_amount",
} if {
	max := object.get(input.redeemable.campaign.metadata, "max_order_amount", 0)
	max > 0
	input.order.amount > max
}
`, n),
		"tenant/loyalty.rego": fmt.Sprintf(`package punchcard.eligibility

# Loyalty tiers: some campaigns are for gold and platinum members only, and
# new customers wait a week before their first promotion.
premium_tiers := {"gold", "platinum"}

premium_only if input.redeemable.campaign.metadata.premium_only == true

is_premium if input.customer.tier in premium_tiers

new_customer if {
	created := time.parse_rfc3339_ns(input.customer.created_at)
	now := time.parse_rfc3339_ns(input.now)
	now - created < ((7 * 24) * 3600) * 1000000000
}

deny contains {
	"code": "customer_rules_violated",
	"message": "This promotion is for gold and platinum members.",
	"rule": "tenant%[1]d.premium_only",
} if {
	premium_only
	not is_premium
}

deny contains {
	"code": "customer_rules_violated",
	"message": "New customers can use promotions after their first week.",
	"rule": "tenant%[1]d.new_customer",
} if {
	input.customer.created_at
	new_customer
}

review contains {
	"code": "large_discount",
	"message": "Large order for a promotion.",
	"rule": "tenant%[1]d.large_order",
} if {
	input.order.amount > 100000 + %[1]d
}
`, n),
	}
}

func tenantData() map[string]any {
	return map[string]any{
		"blocked_customers":    []any{"cust_blocked_1", "cust_blocked_2"},
		"blocked_stores":       []any{"ams-west"},
		"restricted_campaigns": []any{},
	}
}

// BenchmarkTenantVersion compares one eligibility decision of a tenant version
// (base + 3 tenant modules + a data document) through the Engine with a raw
// prepared OPA query of the same modules, data and input, in the same run: the
// ratio Engine/RawPrepared is the engine's overhead (target ≤ 1.2).
func BenchmarkTenantVersion(b *testing.B) {
	input := eligibilityInput()
	p := TenantPolicy{Version: "v1", Modules: tenantModules(1), Data: tenantData()}
	if err := Check(context.Background(), Eligibility, p); err != nil {
		b.Fatal(err)
	}
	b.Run("Engine", func(b *testing.B) {
		e := newTestEngine(b, Options{TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return p, nil }})
		ctx := context.Background()
		if d, err := e.Evaluate(ctx, "ten_01", Eligibility, input); err != nil || !d.Allowed() {
			b.Fatalf("warm-up: %+v, %v", d, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Evaluate(ctx, "ten_01", Eligibility, input); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RawPrepared", func(b *testing.B) {
		opts := []func(*rego.Rego){rego.Query(queries[Eligibility]), rego.Store(inmem.NewFromObject(map[string]any{"tenant": tenantData()}))}
		for name, src := range Base(Eligibility).With(p.Modules) {
			opts = append(opts, rego.Module(name, src))
		}
		pq, err := rego.New(opts...).PrepareForEval(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			v, err := ast.InterfaceToValue(input)
			if err != nil {
				b.Fatal(err)
			}
			rs, err := pq.Eval(ctx, rego.EvalParsedInput(v))
			if err != nil || len(rs) != 1 {
				b.Fatalf("Eval: %v, %d results", err, len(rs))
			}
		}
	})
}

// BenchmarkTenantCompile measures the lazy first evaluation of N tenants, each
// with its own eligibility version of 3 modules of about 50 lines (N from
// PUNCHCARD_BENCH_TENANTS, default 200): compile ms per tenant and the heap
// each cached tenant keeps (HeapAlloc after a GC, before and after, over N).
// weight-KiB/tenant is the cache's estimate of the same, to calibrate it.
func BenchmarkTenantCompile(b *testing.B) {
	n := 200
	if s := os.Getenv("PUNCHCARD_BENCH_TENANTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("PUNCHCARD_BENCH_TENANTS=%q: want a positive number", s)
		}
	}
	versions := make([]TenantPolicy, n)
	for i := range versions {
		versions[i] = TenantPolicy{Version: "v1", Modules: tenantModules(i), Data: tenantData()}
	}
	ctx, input := context.Background(), eligibilityInput()
	for b.Loop() {
		e := newTestEngine(b, Options{CacheBytes: math.MaxInt64, TenantModules: func(_ context.Context, tenantID string, _ Kind) (TenantPolicy, error) {
			i, _ := strconv.Atoi(tenantID[len("ten_"):])
			return versions[i], nil
		}})
		// The shared base query is not part of any tenant's cost.
		if _, err := e.EvaluatePolicy(ctx, "ten_base", Eligibility, TenantPolicy{}, input); err != nil {
			b.Fatal(err)
		}
		before := heapAlloc()
		start := time.Now()
		for i := range n {
			if d, err := e.Evaluate(ctx, fmt.Sprintf("ten_%d", i), Eligibility, input); err != nil || !d.Allowed() {
				b.Fatalf("tenant %d: %+v, %v", i, d, err)
			}
		}
		elapsed := time.Since(start)
		after := heapAlloc()
		b.ReportMetric(float64(elapsed.Milliseconds())/float64(n), "compile-ms/tenant")
		b.ReportMetric(float64(after-before)/1024/float64(n), "KiB/tenant")
		b.ReportMetric(float64(e.cache.size())/1024/float64(n), "weight-KiB/tenant")
		if e.cache.len() != n {
			b.Fatalf("cache holds %d tenants, want %d", e.cache.len(), n)
		}
		runtime.KeepAlive(e)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
