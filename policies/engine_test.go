package policies

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// eligibilityInput is what the promotions engine builds for one voucher of a
// Friday-evening order: a 15% happy-hour campaign for loyalty members, valid on
// Fridays 17:00–19:00, for the first 500 redemptions, once per customer.
func eligibilityInput() map[string]any {
	return map[string]any{
		"tenant":  map[string]any{"id": "ten_01", "slug": "bean-bar", "currency": "EUR", "timezone": "Europe/Amsterdam"},
		"now":     "2026-11-20T17:30:00Z",
		"local":   map[string]any{"date": "2026-11-20", "weekday": 5, "hour": 18, "minute": 30},
		"channel": "pos",
		"customer": map[string]any{
			"id":        "cust_01JD8Z",
			"source_id": "alice@example.com",
			"address":   map[string]any{"country": "NL", "city": "Amsterdam"},
			"metadata":  map[string]any{"favorite_drink": "latte"},
			"segments":  []any{"loyalty_members", "coffee_lovers"},
			"tier":      "gold",
			"stats":     map[string]any{"orders_count": 12, "total_spent": int64(48000), "redemptions_count": 3},
		},
		"order": map[string]any{
			"amount": int64(5000),
			"items": []any{
				map[string]any{"sku_id": "sku_latte_l", "product_id": "prod_latte", "quantity": 2, "price": int64(2000), "amount": int64(4000), "metadata": map[string]any{}},
				map[string]any{"sku_id": "sku_croissant", "product_id": "prod_croissant", "quantity": 1, "price": int64(1000), "amount": int64(1000), "metadata": map[string]any{}},
			},
			"metadata": map[string]any{"store": "ams-centraal"},
		},
		"redeemable": map[string]any{
			"object":    "voucher",
			"id":        "v_01JD90",
			"holder_id": "cust_01JD8Z",
			"active":    true,
			"campaign": map[string]any{
				"id":                   "camp_01JD7A",
				"name":                 "Friday happy hour",
				"type":                 "DISCOUNT_COUPONS",
				"category":             "general_discount",
				"metadata":             map[string]any{},
				"active":               true,
				"start_date":           "2026-11-01T00:00:00Z",
				"expiration_date":      "2026-12-31T23:00:00Z",
				"validity_day_of_week": []any{5},
				"validity_hours": map[string]any{"daily": []any{
					map[string]any{"start_time": "17:00", "expiration_time": "19:00", "days_of_week": []any{5}},
				}},
				"rules": map[string]any{
					"min_order_amount": int64(1500),
					"segments":         []any{"loyalty_members"},
					"channels":         []any{"pos", "online"},
					"countries":        []any{"NL", "BE"},
					"products":         map[string]any{"included": []any{"prod_latte", "prod_cappuccino"}},
					"metadata":         map[string]any{"store": []any{"ams-centraal", "ams-zuid"}},
				},
				"limits": map[string]any{"total_redemptions": 500, "per_customer": 1},
			},
			"discount": map[string]any{"type": "PERCENT", "percent_off": 15},
			"usage": map[string]any{
				"campaign_redemptions":       int64(123),
				"campaign_discount_amount":   int64(61500),
				"campaign_order_amount":      int64(410000),
				"customer_redemptions":       int64(0),
				"customer_redemptions_today": int64(0),
				"voucher_redemptions":        int64(0),
			},
		},
	}
}

func stackingInput() map[string]any {
	return map[string]any{
		"candidate": map[string]any{"object": "voucher", "id": "v_loyalty20", "category": "loyalty_member", "exclusive": false},
		"applied": []any{
			map[string]any{"object": "voucher", "id": "v_general15", "category": "general_discount", "exclusive": false},
		},
		"stacking": map[string]any{
			"redeemables_limit":                      30,
			"applicable_redeemables_limit":           5,
			"applicable_exclusive_redeemables_limit": 1,
			"exclusive_categories":                   []any{},
			"joint_categories":                       []any{},
			"redeemables_application_mode":           "PARTIAL",
			"redeemables_sorting_rule":               "REQUESTED_ORDER",
		},
	}
}

func fraudInput() map[string]any {
	return map[string]any{
		"redeemables": []any{map[string]any{"object": "voucher", "id": "HAPPY15"}},
		"request":     map[string]any{"ip": "203.0.113.7", "user_agent": "PunchcardPOS/2.1"},
		"velocity": map[string]any{
			"customer_redemptions_last_hour":   2,
			"customer_validations_last_minute": 3,
			"failed_validations_last_10m":      0,
		},
		"settings": map[string]any{"fraud": map[string]any{"max_redemptions_per_customer_per_hour": 10}},
	}
}

// set writes value at the slash-separated path in doc, creating objects on the way.
func set(doc map[string]any, path string, value any) map[string]any {
	parts := strings.Split(path, "/")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
	return doc
}

// newTestEngine returns an Engine whose deadline, unless opts sets one, is long
// enough that a test's decisions never depend on the machine's speed (the race
// detector slows evaluation several times over).
func newTestEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	e, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name       string
		kind       Kind
		input      func() map[string]any
		wantDeny   []string // "code rule"
		wantReview []string
		wantScore  float64
	}{
		{name: "eligible happy hour voucher", kind: Eligibility, input: eligibilityInput},
		{
			name: "happy hour over", kind: Eligibility,
			input:    func() map[string]any { return set(eligibilityInput(), "local/hour", 19) },
			wantDeny: []string{"not_valid_today schedule.validity_hours"},
		},
		{
			name: "not a Friday", kind: Eligibility,
			input: func() map[string]any { return set(eligibilityInput(), "local/weekday", 4) },
			wantDeny: []string{
				"not_valid_today schedule.validity_day_of_week",
				"not_valid_today schedule.validity_hours",
			},
		},
		{
			name: "first 500 redemptions gone", kind: Eligibility,
			input: func() map[string]any {
				return set(eligibilityInput(), "redeemable/usage/campaign_redemptions", int64(500))
			},
			wantDeny: []string{"limit_exceeded limits.total_redemptions"},
		},
		{
			name: "customer already redeemed", kind: Eligibility,
			input: func() map[string]any {
				return set(eligibilityInput(), "redeemable/usage/customer_redemptions", int64(1))
			},
			wantDeny: []string{"limit_exceeded limits.per_customer"},
		},
		{
			name: "order below minimum", kind: Eligibility,
			input:    func() map[string]any { return set(eligibilityInput(), "order/amount", int64(1499)) },
			wantDeny: []string{"order_rules_violated rules.min_order_amount"},
		},
		{
			name: "voucher of another customer", kind: Eligibility,
			input:    func() map[string]any { return set(eligibilityInput(), "customer/id", "cust_other") },
			wantDeny: []string{"customer_mismatch voucher.holder_id"},
		},
		{
			name: "no customer", kind: Eligibility,
			input: func() map[string]any { return set(eligibilityInput(), "customer", nil) },
			wantDeny: []string{
				"customer_mismatch voucher.holder_id",
				"customer_rules_violated rules.countries",
				"customer_rules_violated rules.segments",
				"missing_customer limits.per_customer",
			},
		},
		{
			name: "campaign expired and disabled", kind: Eligibility,
			input: func() map[string]any {
				in := set(eligibilityInput(), "redeemable/campaign/expiration_date", "2026-11-20T17:00:00Z")
				return set(in, "redeemable/campaign/active", false)
			},
			wantDeny: []string{"campaign_disabled campaign.active", "voucher_expired schedule.expiration_date"},
		},
		{
			name: "wrong channel", kind: Eligibility,
			input:    func() map[string]any { return set(eligibilityInput(), "channel", "mobile") },
			wantDeny: []string{"channel_not_allowed rules.channels"},
		},
		{name: "15% and 20% combine by default", kind: Stacking, input: stackingInput},
		{
			name: "15% and 20% exclusive", kind: Stacking,
			input: func() map[string]any {
				return set(stackingInput(), "stacking/exclusive_categories", []any{"general_discount", "loyalty_member"})
			},
			wantDeny: []string{"applicable_exclusive_redeemables_limit_exceeded stacking.applicable_exclusive_redeemables_limit"},
		},
		{
			name: "applicable limit reached", kind: Stacking,
			input:    func() map[string]any { return set(stackingInput(), "stacking/applicable_redeemables_limit", 1) },
			wantDeny: []string{"applicable_redeemables_limit_exceeded stacking.applicable_redeemables_limit"},
		},
		{name: "ordinary request", kind: Fraud, input: fraudInput, wantScore: 20},
		{
			name: "redemption velocity", kind: Fraud,
			input:     func() map[string]any { return set(fraudInput(), "velocity/customer_redemptions_last_hour", 10) },
			wantDeny:  []string{"velocity_exceeded fraud.max_redemptions_per_customer_per_hour"},
			wantScore: 100,
		},
		{
			name: "failed validations near limit", kind: Fraud,
			input:      func() map[string]any { return set(fraudInput(), "velocity/failed_validations_last_10m", 27) },
			wantReview: []string{"too_many_failed_validations fraud.max_failed_validations_per_10m"},
			wantScore:  90,
		},
	}
	e := newTestEngine(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Evaluate(context.Background(), "ten_01", tt.kind, tt.input())
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if d.Kind != tt.kind {
				t.Errorf("Kind = %q, want %q", d.Kind, tt.kind)
			}
			if got := summarize(d.Deny); !slices.Equal(got, sorted(tt.wantDeny)) {
				t.Errorf("Deny = %q, want %q", got, tt.wantDeny)
			}
			if got := summarize(d.Review); !slices.Equal(got, sorted(tt.wantReview)) {
				t.Errorf("Review = %q, want %q", got, tt.wantReview)
			}
			if d.Allowed() != (len(tt.wantDeny) == 0) {
				t.Errorf("Allowed() = %v with Deny %v", d.Allowed(), d.Deny)
			}
			if d.RiskScore != tt.wantScore {
				t.Errorf("RiskScore = %v, want %v", d.RiskScore, tt.wantScore)
			}
			for _, r := range d.Deny {
				if r.Message == "" {
					t.Errorf("reason %s has no message", r.Code)
				}
			}
		})
	}
}

func summarize(rs []Reason) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Code+" "+r.Rule)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

func TestEvaluateUnknownKindDenies(t *testing.T) {
	e := newTestEngine(t, Options{})
	d, err := e.Evaluate(context.Background(), "ten_01", Kind("pricing"), map[string]any{})
	if err == nil {
		t.Fatal("want an error for an unknown kind")
	}
	if d.Allowed() || d.Deny[0].Code != CodeError {
		t.Fatalf("Decision = %+v, want a %s deny", d, CodeError)
	}
}

func TestCheckModulesRejectsSandboxEscapes(t *testing.T) {
	tests := []struct {
		name, src, builtin string
	}{
		{"http.send", `package punchcard.fraud

deny contains {"code": "blocked", "message": "blocked", "rule": "tenant.ip"} if {
	resp := http.send({"method": "GET", "url": "https://blocklist.example/ip"})
	resp.status_code == 200
}
`, "http.send"},
		{"net.lookup_ip_addr", `package punchcard.fraud

deny contains {"code": "blocked", "message": "blocked", "rule": "tenant.dns"} if {
	some addr in net.lookup_ip_addr("evil.example")
	addr == input.request.ip
}
`, "net.lookup_ip_addr"},
		{"net.cidr_contains", `package punchcard.fraud

deny contains {"code": "blocked", "message": "blocked", "rule": "tenant.cidr"} if {
	net.cidr_contains("10.0.0.0/8", input.request.ip)
}
`, "net.cidr_contains"},
		{"opa.runtime", `package punchcard.eligibility

deny contains {"code": "env", "message": "env", "rule": "tenant.env"} if {
	opa.runtime().env.SECRET == "x"
}
`, "opa.runtime"},
		{"trace", `package punchcard.eligibility

deny contains {"code": "t", "message": "t", "rule": "tenant.trace"} if {
	trace("hello")
}
`, "trace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckModules(map[string]string{"tenant/escape.rego": tt.src})
			if err == nil {
				t.Fatal("CheckModules accepted the module")
			}
			var astErrs ast.Errors
			if !errors.As(err, &astErrs) || len(astErrs) == 0 {
				t.Fatalf("error %v does not wrap ast.Errors", err)
			}
			first := astErrs[0]
			if first.Location == nil || first.Location.File != "tenant/escape.rego" || first.Location.Row == 0 || first.Location.Col == 0 {
				t.Errorf("error location = %+v, want file, row and column", first.Location)
			}
			if !strings.Contains(err.Error(), tt.builtin+" is not allowed in Punchcard policies") {
				t.Errorf("error %q does not say that %s is not allowed", err, tt.builtin)
			}
		})
	}
}

func TestCheckModules(t *testing.T) {
	t.Run("base with a tenant rule", func(t *testing.T) {
		mods := BaseModules().With(Modules{"tenant/blocklist.rego": `package punchcard.fraud

deny contains {"code": "ip_blocked", "message": "Requests from this address are blocked.", "rule": "tenant.blocklist"} if {
	input.request.ip in {"198.51.100.23"}
}
`})
		if err := CheckModules(mods); err != nil {
			t.Fatalf("CheckModules: %v", err)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		err := CheckModules(map[string]string{"tenant/bad.rego": "package punchcard.eligibility\n\ndeny contains x if {\n"})
		var astErrs ast.Errors
		if !errors.As(err, &astErrs) || astErrs[0].Location == nil || astErrs[0].Location.File != "tenant/bad.rego" {
			t.Fatalf("err = %v, want a parse error located in tenant/bad.rego", err)
		}
	})
	t.Run("strict mode", func(t *testing.T) {
		err := CheckModules(map[string]string{"tenant/unused.rego": "package punchcard.eligibility\n\ndeny contains \"x\" if {\n\tunused := input.channel\n\tinput.channel == \"pos\"\n}\n"})
		if err == nil || !strings.Contains(err.Error(), "unused") {
			t.Fatalf("err = %v, want a strict-mode error about the unused variable", err)
		}
	})
	t.Run("conflicting rule types", func(t *testing.T) {
		err := CheckModules(Base(Eligibility).With(Modules{"tenant/override.rego": "package punchcard.eligibility\n\ndeny := set()\n"}))
		if err == nil {
			t.Fatal("a tenant module replaced the base deny set")
		}
	})
}

// runaway never finishes in time: a cartesian product of 8e9 iterations. The
// tenant rule only runs for the slow tenant, so other tenants are unaffected.
const runaway = `package punchcard.eligibility

deny contains {"code": "never", "message": "never", "rule": "tenant.runaway"} if {
	input.tenant.id == "ten_slow"
	count([1 |
		some a in numbers.range(1, 2000)
		some b in numbers.range(1, 2000)
		some c in numbers.range(1, 2000)
		a + b + c < 0
	]) > 0
}
`

func TestEvaluateTimeoutDeniesAndOtherTenantsContinue(t *testing.T) {
	e := newTestEngine(t, Options{
		// Long enough for a base evaluation on a slow machine, far too short for runaway.
		Timeout: 500 * time.Millisecond,
		TenantModules: func(_ context.Context, tenantID string, kind Kind) (TenantPolicy, error) {
			if tenantID == "ten_slow" && kind == Eligibility {
				return TenantPolicy{Version: "v1", Modules: Modules{"tenant/runaway.rego": runaway}}, nil
			}
			return TenantPolicy{}, nil
		},
	})
	slow := set(eligibilityInput(), "tenant/id", "ten_slow")
	d, err := e.Evaluate(context.Background(), "ten_slow", Eligibility, slow)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if d.Allowed() || d.Deny[0].Code != CodeTimeout {
		t.Fatalf("Decision = %+v, want a %s deny", d, CodeTimeout)
	}

	d, err = e.Evaluate(context.Background(), "ten_fast", Eligibility, eligibilityInput())
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if !d.Allowed() {
		t.Fatalf("other tenant denied: %+v", d.Deny)
	}
}

func TestEvaluateCallerDeadline(t *testing.T) {
	e := newTestEngine(t, Options{
		Timeout: time.Minute,
		TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) {
			return TenantPolicy{Version: "v1", Modules: Modules{"tenant/runaway.rego": runaway}}, nil
		},
	})
	// Compile first so the caller's short deadline only bounds the evaluation.
	if _, err := e.Evaluate(context.Background(), "ten_slow", Eligibility, eligibilityInput()); err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	d, _ := e.Evaluate(ctx, "ten_slow", Eligibility, set(eligibilityInput(), "tenant/id", "ten_slow"))
	if d.Allowed() || d.Deny[0].Code != CodeTimeout {
		t.Fatalf("Decision = %+v, want a %s deny", d, CodeTimeout)
	}
}

func TestEvaluateFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		modules Modules
		input   map[string]any
		loadErr error
	}{
		{
			name: "module does not compile", kind: Stacking,
			modules: Modules{"tenant/broken.rego": "package punchcard.stacking\n\ndeny contains x if {\n"},
			input:   stackingInput(),
		},
		{
			name: "builtin error", kind: Fraud,
			modules: Modules{"tenant/divide.rego": "package punchcard.fraud\n\nreview contains \"odd\" if {\n\tinput.velocity.failed_validations_last_10m / 0 > 1\n}\n"},
			input:   fraudInput(),
		},
		{
			name: "policy store fails", kind: Eligibility,
			loadErr: errors.New("policy store unavailable"),
			input:   eligibilityInput(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, Options{
				TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) {
					return TenantPolicy{Version: "v7", Modules: tt.modules}, tt.loadErr
				},
			})
			d, err := e.Evaluate(context.Background(), "ten_01", tt.kind, tt.input)
			if err == nil {
				t.Fatal("want an error to log")
			}
			if d.Allowed() || d.Deny[0].Code != CodeError {
				t.Fatalf("Decision = %+v, want a %s deny", d, CodeError)
			}
		})
	}
}

func TestEvaluateTenantRulesMergeWithBase(t *testing.T) {
	blocklist := Modules{"tenant/blocklist.rego": `package punchcard.fraud

deny contains {"code": "ip_blocked", "message": "Requests from this address are blocked.", "rule": "tenant.blocklist"} if {
	input.request.ip in {"198.51.100.23"}
}
`}
	e := newTestEngine(t, Options{
		TenantModules: func(_ context.Context, tenantID string, _ Kind) (TenantPolicy, error) {
			if tenantID == "ten_strict" {
				return TenantPolicy{Version: "v2", Modules: blocklist}, nil
			}
			return TenantPolicy{}, nil
		},
	})
	in := set(fraudInput(), "request/ip", "198.51.100.23")
	in = set(in, "velocity/customer_redemptions_last_hour", 10)
	d, err := e.Evaluate(context.Background(), "ten_strict", Fraud, in)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	want := []string{"ip_blocked tenant.blocklist", "velocity_exceeded fraud.max_redemptions_per_customer_per_hour"}
	if got := summarize(d.Deny); !slices.Equal(got, want) {
		t.Errorf("Deny = %q, want %q", got, want)
	}
	d, err = e.Evaluate(context.Background(), "ten_other", Fraud, set(fraudInput(), "request/ip", "198.51.100.23"))
	if err != nil || !d.Allowed() {
		t.Errorf("another tenant: Decision %+v, err %v; want allowed", d, err)
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	// A generous timeout: this test is about data races and eviction under load, not speed.
	e := newTestEngine(t, Options{Timeout: time.Minute, CacheEntries: 4, TenantModules: func(_ context.Context, tenantID string, kind Kind) (TenantPolicy, error) {
		// Half the tenants have a version of their own (a harmless extra rule),
		// so that the LRU is exercised alongside the shared base queries.
		if tenantID[len(tenantID)-1]%2 == 0 && kind != Segments {
			return TenantPolicy{Version: "v1", Modules: Modules{"extra.rego": "package " + kind.Package() + "\n\nreview contains \"never\" if input.never_set == true\n"}}, nil
		}
		return TenantPolicy{}, nil
	}})
	inputs := map[Kind]func() map[string]any{Eligibility: eligibilityInput, Stacking: stackingInput, Fraud: fraudInput, Segments: eligibilityInput}
	var wg sync.WaitGroup
	errs := make(chan error, 64*len(Kinds))
	for g := range 64 {
		for _, k := range Kinds {
			wg.Go(func() {
				tenant := fmt.Sprintf("ten_%d", g%6)
				in := inputs[k]()
				if k == Eligibility && g%2 == 1 {
					in = set(in, "order/amount", int64(100))
				}
				d, err := e.Evaluate(context.Background(), tenant, k, in)
				switch {
				case err != nil:
					errs <- err
				case k == Eligibility && g%2 == 1 && d.Allowed():
					errs <- fmt.Errorf("goroutine %d: small order allowed", g)
				case !(k == Eligibility && g%2 == 1) && !d.Allowed():
					errs <- fmt.Errorf("goroutine %d %s: denied %v", g, k, d.Deny)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.cache.len(); n > 4 {
		t.Errorf("cache holds %d entries, bound 4", n)
	}
}

func TestEngineCacheIsBounded(t *testing.T) {
	version := func(tenantID string) TenantPolicy {
		return TenantPolicy{Version: "v1", Modules: Modules{"tenant/velocity.rego": `package punchcard.fraud

review contains {"code": "watch", "message": "Watched customer.", "rule": "tenant.watch"} if {
	input.velocity.customer_redemptions_last_hour > 100
}
`}}
	}
	tenantOf := func(i int) string { return fmt.Sprintf("ten_%d", i) }
	cached := func(e *Engine, tenantID string) bool {
		e.cache.mu.Lock()
		defer e.cache.mu.Unlock()
		_, ok := e.cache.entries[cacheKey{tenantID: tenantID, kind: Fraud, version: "v1"}]
		return ok
	}
	evaluateAll := func(t *testing.T, e *Engine) {
		for i := range 5 {
			if _, err := e.Evaluate(context.Background(), tenantOf(i), Fraud, fraudInput()); err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
		}
	}
	tenantModules := func(_ context.Context, tenantID string, _ Kind) (TenantPolicy, error) { return version(tenantID), nil }

	t.Run("entries", func(t *testing.T) {
		e := newTestEngine(t, Options{CacheEntries: 3, TenantModules: tenantModules})
		evaluateAll(t, e)
		if n := e.cache.len(); n != 3 {
			t.Fatalf("cache holds %d entries, want 3", n)
		}
		for i, want := range []bool{false, false, true, true, true} {
			if got := cached(e, tenantOf(i)); got != want {
				t.Errorf("%s cached = %v, want %v", tenantOf(i), got, want)
			}
		}
	})
	t.Run("bytes", func(t *testing.T) {
		c, err := build(context.Background(), Fraud, version(""))
		if err != nil {
			t.Fatal(err)
		}
		// Room for two entries and a half: the third evicts the first.
		e := newTestEngine(t, Options{CacheBytes: c.weight * 5 / 2, TenantModules: tenantModules})
		evaluateAll(t, e)
		if n := e.cache.len(); n != 2 {
			t.Fatalf("cache holds %d entries, want 2", n)
		}
		if got, bound := e.cache.size(), c.weight*5/2; got > bound {
			t.Errorf("cache weighs %d bytes, bound %d", got, bound)
		}
		for i, want := range []bool{false, false, false, true, true} {
			if got := cached(e, tenantOf(i)); got != want {
				t.Errorf("%s cached = %v, want %v", tenantOf(i), got, want)
			}
		}
		// An evicted tenant is compiled again and still decides correctly.
		d, err := e.Evaluate(context.Background(), tenantOf(0), Fraud, set(fraudInput(), "velocity/failed_validations_last_10m", 30))
		if err != nil || d.Allowed() {
			t.Fatalf("evicted tenant: Decision %+v, err %v; want a deny", d, err)
		}
		if !cached(e, tenantOf(0)) || cached(e, tenantOf(3)) {
			t.Error("re-evaluating ten_0 did not evict the least recently used ten_3")
		}
	})
	t.Run("base queries are shared", func(t *testing.T) {
		e := newTestEngine(t, Options{})
		evaluateAll(t, e)
		if n := e.cache.len(); n != 0 {
			t.Errorf("base-only tenants put %d entries in the tenant cache, want 0", n)
		}
	})
}

func TestEvaluateSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	e := newTestEngine(t, Options{TracerProvider: tp})
	in := set(eligibilityInput(), "order/amount", int64(100))
	if _, err := e.Evaluate(context.Background(), "ten_01", Eligibility, in); err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "policies.Evaluate" {
		t.Fatalf("spans = %v, want one policies.Evaluate", spans)
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range spans[0].Attributes() {
		attrs[kv.Key] = kv.Value
	}
	want := map[attribute.Key]string{
		"tenant.id":         "ten_01",
		"policy.kind":       "eligibility",
		"policy.version":    "base",
		"policy.decision":   "deny",
		"policy.deny_codes": `["order_rules_violated"]`,
		"campaign.id":       campaignID(in),
	}
	for k, v := range want {
		if got := attrs[k].String(); got != v {
			t.Errorf("attribute %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if !strings.HasPrefix(string(k), "policy.") && k != "tenant.id" && k != "campaign.id" {
			t.Errorf("unexpected span attribute %s", k)
		}
	}
}

func TestCheckModulesSizeLimits(t *testing.T) {
	big := "package punchcard.eligibility\n\n# " + strings.Repeat("x", MaxModuleBytes) + "\n"
	if err := CheckModules(map[string]string{"tenant/big.rego": big}); err == nil || !strings.Contains(err.Error(), "tenant/big.rego") {
		t.Errorf("err = %v, want the oversized module refused by name", err)
	}
	many := Modules{}
	for i := range MaxModules + 1 {
		many[fmt.Sprintf("tenant/m%d.rego", i)] = "package punchcard.eligibility\n"
	}
	if err := CheckModules(many); err == nil {
		t.Error("CheckModules accepted more than MaxModules modules")
	}
}

func campaignID(in map[string]any) string {
	id := campaignOf(in)
	if id == "" {
		panic("the eligibility test input names no campaign")
	}
	return id
}

// A document shared by several decisions decides exactly as the whole input
// would, with its own keys as Go values or converted once (Value, []Value).
// Nothing is memoized, so that each decision is evaluated.
func TestEvaluateDocumentDecidesAsEvaluate(t *testing.T) {
	e := newTestEngine(t, Options{MemoEntries: -1})
	ctx := context.Background()
	own := map[Kind]string{Eligibility: "redeemable", Stacking: "candidate", Fraud: "velocity"}
	for _, c := range []struct {
		kind  Kind
		input map[string]any
	}{
		{Eligibility, eligibilityInput()},
		{Eligibility, set(eligibilityInput(), "order/amount", int64(100))},
		{Stacking, stackingInput()},
		{Fraud, fraudInput()},
		{Fraud, set(fraudInput(), "velocity/failed_validations_last_10m", 30)},
	} {
		shared, mine := map[string]any{}, map[string]any{}
		for k, v := range c.input {
			if k == own[c.kind] || (c.kind == Stacking && (k == "applied" || k == "stacking")) {
				mine[k] = v
			} else {
				shared[k] = v
			}
		}
		if len(mine) == 0 {
			t.Fatalf("%s input has no %s", c.kind, own[c.kind])
		}
		doc, err := NewDocument(shared)
		if err != nil {
			t.Fatal(err)
		}
		converted := map[string]any{}
		for k, v := range mine {
			if list, ok := v.([]any); ok {
				vs := make([]Value, len(list))
				for i, x := range list {
					vs[i] = mustValue(t, x)
				}
				converted[k] = vs
			} else {
				converted[k] = mustValue(t, v)
			}
		}
		want, err1 := e.Evaluate(ctx, "ten_doc", c.kind, c.input)
		for _, own := range []map[string]any{mine, converted} {
			got, err2 := e.EvaluateDocument(ctx, "ten_doc", c.kind, doc, own)
			if err1 != nil || err2 != nil || !slices.Equal(got.Deny, want.Deny) || !slices.Equal(got.Review, want.Review) || got.RiskScore != want.RiskScore {
				t.Errorf("%s: document decision %+v (%v), whole input %+v (%v)", c.kind, got, err2, want, err1)
			}
		}
	}
}

func mustValue(t *testing.T, x any) Value {
	t.Helper()
	v, err := NewValue(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValueWith(t *testing.T) {
	v := mustValue(t, map[string]any{"id": "v1", "campaign": map[string]any{"id": "camp_1"}, "category": "old"})
	w, err := v.With(map[string]any{"category": "loyalty", "exclusive": true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.v.String(), `{"campaign": {"id": "camp_1"}, "category": "loyalty", "exclusive": true, "id": "v1"}`; got != want {
		t.Errorf("With = %s, want %s", got, want)
	}
	if got := v.v.String(); strings.Contains(got, "loyalty") || strings.Contains(got, "exclusive") {
		t.Errorf("With changed the value it extends: %s", got)
	}
	if got := campaignOf(map[string]any{"candidate": w}); got != "camp_1" {
		t.Errorf("campaignOf a converted candidate = %q, want camp_1", got)
	}
	if _, err := mustValue(t, []any{1}).With(map[string]any{"x": 1}); err == nil {
		t.Error("With extended an array")
	}
}
