package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// workload is one side of a comparison: a request generator and what to release
// afterwards.
type workload struct {
	next  request
	close func()
}

// floor is what a scenario is compared with, measured in the same run: a gin
// hello-world handler, raw OPA evaluation, or pgbench running the database floor.
type floor struct {
	name string
	run  func(ctx context.Context, e *env, db string, opts loadOptions) (result, error)
}

// ratio is one number a scenario is judged by.
type ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target,omitempty"`
}

// scenario is a Punchcard workload with its floors. Later capabilities add theirs
// to scenarios.
type scenario struct {
	name    string
	what    string // the Punchcard side
	summary string // for -list
	floors  []floor
	// perDatabase scenarios run once per configured database; databases, when set,
	// restricts them (the pgbench floors exist only on PostgreSQL).
	perDatabase bool
	databases   []string
	// rate, when set, runs the Punchcard side as an open loop at this rate;
	// clients, when set, overrides the client count (of floors too).
	rate    float64
	clients int
	// setupTarget builds the Punchcard workload; db is the database URL of the
	// round ("" for SQLite).
	setupTarget func(ctx context.Context, env *env, db string) (workload, error)
	// measureTarget, when set, measures the Punchcard side itself instead of
	// driving setupTarget's workload (for what is not a request stream).
	measureTarget func(ctx context.Context, env *env, db string, opts loadOptions) (result, error)
	ratios        func(target result, floors []result) []ratio
}

// load is the load options of the scenario's Punchcard side.
func (s scenario) load(opts loadOptions) loadOptions {
	if s.rate > 0 {
		opts.Rate = s.rate
	}
	if s.clients > 0 {
		opts.Clients = s.clients
	}
	return opts
}

// env is what scenarios share: the load client.
type env struct {
	client *http.Client
}

// httpFloor measures an HTTP workload as a floor.
func httpFloor(name string, setup func(ctx context.Context, e *env, db string) (workload, error)) floor {
	return floor{name: name, run: func(ctx context.Context, e *env, db string, opts loadOptions) (result, error) {
		return measure(ctx, e, setup, db, opts, nil)
	}}
}

var hello = httpFloor("gin hello-world", helloWorkload)

// againstHello are the ratios of an HTTP scenario against the hello-world floor.
func againstHello(t result, f []result) []ratio {
	return []ratio{
		{Name: "throughput / hello-world", Value: t.Throughput / f[0].Throughput},
		{Name: "p50 / hello-world p50", Value: float64(t.P50) / float64(f[0].P50)},
		{Name: "p99 / hello-world p99", Value: float64(t.P99) / float64(f[0].P99)},
	}
}

var scenarios = []scenario{
	{
		name: "customer-get", what: "GET /v1/customers/{id}", summary: "GET /v1/customers/{id} vs gin hello-world",
		floors: []floor{hello}, perDatabase: true, ratios: againstHello,
		setupTarget: func(ctx context.Context, e *env, db string) (workload, error) {
			p, err := startPunchcard(ctx, db, e.client)
			if err != nil {
				return workload{}, err
			}
			var c struct {
				ID string `json:"id"`
			}
			if err := p.call(ctx, "POST", "/v1/customers", "Bearer "+p.secret, map[string]any{
				"source_id": "bench-customer", "name": "Bench Customer", "email": "bench@example.com",
				"metadata": map[string]any{"tier": "gold"},
			}, &c); err != nil {
				p.stop()
				return workload{}, err
			}
			return p.get("/v1/customers/" + c.ID), nil
		},
	},
	{
		name: "validate", what: "POST /v1/validations, 1 client", summary: "latency of one validation (one voucher, two lines, a known customer) vs hello-world + raw OPA eval of the same three decisions, one client",
		floors: []floor{hello, rawOPAFloor}, perDatabase: true, clients: 1,
		setupTarget: validateWorkload,
		ratios: func(t result, f []result) []ratio {
			return []ratio{{Name: "p50 / (hello-world p50 + raw OPA p50)", Value: float64(t.P50) / float64(f[0].P50+f[1].P50), Target: "≤ 1.3"}}
		},
	},
	{
		name: "validate-throughput", what: "POST /v1/validations", summary: "the validation above, closed loop with all clients",
		perDatabase: true, setupTarget: validateWorkload,
		ratios: func(t result, _ []result) []ratio {
			return []ratio{{Name: "validations/s", Value: t.Throughput, Target: "≥ 3,000"}}
		},
	},
	{
		name: "validate-half-rate", what: "POST /v1/validations at 1,500/s", summary: "the validation above as an open loop at 1,500 requests/s (half the throughput target)",
		floors: nil, perDatabase: true, rate: 1500,
		setupTarget: validateWorkload,
		ratios: func(t result, _ []result) []ratio {
			return []ratio{{Name: "p99 ms at 1,500/s", Value: float64(t.P99) / float64(time.Millisecond), Target: "≤ 5"},
				{Name: "achieved req/s", Value: t.Throughput}}
		},
	},
	{
		name: "qualify", what: "POST /v1/qualifications", summary: fmt.Sprintf("which of a customer's %d wallet vouchers and %d promotion tiers fit a cart, page of 5, vs gin hello-world", walletVouchers, promotionTiers),
		floors: []floor{hello}, perDatabase: true, ratios: againstHello,
		setupTarget: qualifyWorkload,
	},
	{
		name: "redeem-hot", what: "POST /v1/redemptions, one campaign", summary: "redemptions on one capped campaign vs pgbench redeem_hot.sql with the same clients (PostgreSQL)",
		floors: []floor{pgbenchFloor("redeem_hot.sql")}, perDatabase: true, databases: []string{"postgres"},
		setupTarget: func(ctx context.Context, e *env, db string) (workload, error) { return redeemWorkload(ctx, e, db, 1) },
		ratios: func(t result, f []result) []ratio {
			return []ratio{{Name: "throughput / pgbench redeem_hot", Value: t.Throughput / f[0].Throughput, Target: "≥ 0.8"}}
		},
	},
	{
		name: "redeem-spread", what: "POST /v1/redemptions, 10,000 campaigns", summary: "redemptions spread over 10,000 campaigns vs pgbench redeem_spread.sql (PostgreSQL)",
		floors: []floor{pgbenchFloor("redeem_spread.sql")}, perDatabase: true, databases: []string{"postgres"},
		setupTarget: func(ctx context.Context, e *env, db string) (workload, error) {
			return redeemWorkload(ctx, e, db, 10_000)
		},
		ratios: func(t result, f []result) []ratio {
			return []ratio{{Name: "throughput / pgbench redeem_spread", Value: t.Throughput / f[0].Throughput, Target: "≥ 0.6"}}
		},
	},
}

// helloWorkload is the HTTP floor for every scenario served over HTTP.
func helloWorkload(ctx context.Context, _ *env, _ string) (workload, error) {
	base, stop, err := helloServer(ctx)
	if err != nil {
		return workload{}, fmt.Errorf("hello-world server: %w", err)
	}
	return workload{
		next: func(ctx context.Context, _, _ int) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, base+"/hello", nil)
		},
		close: stop,
	}, nil
}

// validationBody is the request of the validate scenarios (and of the raw OPA
// floor's inputs): one voucher, two order lines, the known customer n of
// benchCustomers.
func validationBody(code string, customer int) string {
	return `{"redeemables":[{"object":"voucher","id":"` + code + `"}],` +
		`"order":{"items":[{"product_id":"shoes","quantity":1,"price":8000},{"product_id":"socks","quantity":2,"price":1000}]},` +
		`"customer":{"source_id":"` + benchCustomer(customer) + `"},"metadata":{"channel":"online"}}`
}

// benchCustomers is how many customers the validations spread over: the fraud
// policy counts validations per customer per minute (60 by default, flagged from
// 48), and at 4,000 validations/s each of 10,000 customers makes 24 a minute.
const benchCustomers = 10_000

func benchCustomer(n int) string { return fmt.Sprintf("bench-customer-%05d", n%benchCustomers) }

func validateWorkload(ctx context.Context, e *env, db string) (workload, error) {
	p, err := validatingServer(ctx, e, db)
	if err != nil {
		return workload{}, err
	}
	return p.validations("BENCH-15"), nil
}

// validatingServer is a server whose tenant has what validationBody names.
func validatingServer(ctx context.Context, e *env, db string) (*punchcard, error) {
	p, err := startPunchcard(ctx, db, e.client)
	if err != nil {
		return nil, err
	}
	if err := seedValidation(ctx, p); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// redeemWorkload redeems over n campaigns of one unlimited code each, round robin.
func redeemWorkload(ctx context.Context, e *env, db string, n int) (workload, error) {
	p, err := startPunchcard(ctx, db, e.client)
	if err != nil {
		return workload{}, err
	}
	codes, err := p.campaignCodes(ctx, n)
	if err != nil {
		p.stop()
		return workload{}, err
	}
	return p.posts("/v1/redemptions", func(n int) string {
		return `{"redeemables":[{"object":"voucher","id":"` + codes[n%len(codes)] + `"}],"order":{"amount":5000}}`
	}), nil
}
