package policies

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// combinedDecision decides input with p compiled together with the base
// modules, as Check compiles it (the engine's behaviour before split versions):
// a failed evaluation is the engine's policy_error decision.
func combinedDecision(t *testing.T, kind Kind, p TenantPolicy, input map[string]any) (Decision, error) {
	t.Helper()
	store, dataBytes, tenant, err := prepareVersion(kind, p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildSet(context.Background(), kind, p, tenant, store, dataBytes, false)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.query.Eval(context.Background(), rego.EvalParsedInput(v))
	if err != nil {
		return failed(kind, err)
	}
	d, err := decode(kind, rs)
	if err != nil {
		t.Fatal(err)
	}
	return d, nil
}

// assertDecidesAsCombined checks that the engine compiles p split (or not) as
// wanted and decides every input exactly as the combined compilation does.
func assertDecidesAsCombined(t *testing.T, kind Kind, p TenantPolicy, wantSplit bool, inputs ...map[string]any) {
	t.Helper()
	if err := Check(context.Background(), kind, p); err != nil {
		t.Fatalf("Check: %v", err)
	}
	c, err := build(context.Background(), kind, p)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if c.split != wantSplit {
		t.Fatalf("split = %v, want %v", c.split, wantSplit)
	}
	e := newTestEngine(t, Options{TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return p, nil }})
	for i, in := range inputs {
		got, err := e.Evaluate(context.Background(), "ten_01", kind, in)
		got.Duration = 0
		want, wantErr := combinedDecision(t, kind, p, in)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("input %d: Evaluate error %v, combined error %v", i, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("input %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

func TestSplitReadsOnlyInputAndTenantData(t *testing.T) {
	expired := set(eligibilityInput(), "redeemable/campaign/expiration_date", "2026-11-01T00:00:00Z")
	blocked := set(eligibilityInput(), "customer/id", "cust_blocked_1")
	both := set(set(set(eligibilityInput(), "customer/id", "cust_blocked_1"), "order/metadata/store", "ams-west"), "redeemable/campaign/active", false)
	big := set(set(eligibilityInput(), "order/amount", int64(200000)), "customer/tier", "silver")
	big = set(big, "redeemable/campaign/metadata/premium_only", true)
	p := TenantPolicy{Version: "v1", Modules: tenantModules(3), Data: tenantData()}
	assertDecidesAsCombined(t, Eligibility, p, true, eligibilityInput(), expired, blocked, both, big)

	// A tenant reason identical to a base reason is one element of the set.
	same := TenantPolicy{Version: "v2", Modules: Modules{"tenant/same.rego": `package punchcard.eligibility

deny contains {"code": "campaign_disabled", "message": "The campaign is disabled.", "rule": "campaign.active"} if {
	input.redeemable.campaign.active == false
}

deny contains "blocked" if input.customer.id in data.tenant.blocked_customers
`}, Data: tenantData()}
	disabled := set(eligibilityInput(), "redeemable/campaign/active", false)
	assertDecidesAsCombined(t, Eligibility, same, true, eligibilityInput(), disabled, set(disabled, "customer/id", "cust_blocked_2"))
}

func TestSplitFallsBackWhenTenantUsesBase(t *testing.T) {
	early := set(eligibilityInput(), "now", "2026-10-01T00:00:00Z")
	for name, src := range map[string]string{
		"base helper function": `package punchcard.eligibility

deny contains reason("tenant_blocked", "Blocked.", "tenant.blocked") if input.customer.id == "cust_01JD8Z"
`,
		"base helper rule": `package punchcard.eligibility

deny contains "too_early" if now_ns < time.parse_rfc3339_ns("2026-11-01T00:00:00Z")
`,
		"base rule by full path": `package punchcard.eligibility

deny contains "too_early" if data.punchcard.eligibility.now_ns < time.parse_rfc3339_ns("2026-11-01T00:00:00Z")
`,
		"imported base rule": `package punchcard.eligibility.tenant

import data.punchcard.eligibility.local_day

late if local_day == 5
`,
		"base deny": `package punchcard.eligibility

review contains "denied anyway" if count(deny) > 0
`,
		"a helper named like a base rule": `package punchcard.eligibility

channel := "kiosk"

deny contains "kiosk" if input.channel == "kiosk"
`,
		"with on a base rule": `package punchcard.eligibility

deny contains "x" if {
	input.customer.id == "cust_01JD8Z"
	true with data.punchcard.eligibility.now_ns as 0
}
`,
	} {
		t.Run(name, func(t *testing.T) {
			p := TenantPolicy{Version: "v1", Modules: Modules{"tenant/t.rego": src}}
			assertDecidesAsCombined(t, Eligibility, p, false, eligibilityInput(), early, set(eligibilityInput(), "channel", "kiosk"))
		})
	}
}

func TestSplitConflictsStillRefused(t *testing.T) {
	for name, src := range map[string]string{
		"complete deny":  "package punchcard.eligibility\n\ndeny := set()\n",
		"default review": "package punchcard.fraud\n\ndefault review := set()\n",
		"subpackage":     "package punchcard.eligibility.reason\n\nx := 1\n",
	} {
		t.Run(name, func(t *testing.T) {
			kind := Eligibility
			if name == "default review" {
				kind = Fraud
			}
			p := TenantPolicy{Version: "v1", Modules: Modules{"tenant/t.rego": src}}
			if err := Check(context.Background(), kind, p); err == nil {
				t.Fatal("Check: want an error")
			}
			if _, err := build(context.Background(), kind, p); err == nil {
				t.Fatal("build: want an error")
			}
		})
	}
}

func TestSplitSubpackage(t *testing.T) {
	p := TenantPolicy{Version: "v1", Data: tenantData(), Modules: Modules{
		"tenant/lists.rego": `package punchcard.eligibility.lists

blocked if input.customer.id in data.tenant.blocked_customers

deny contains "not part of the decision" if true
`,
		"tenant/deny.rego": `package punchcard.eligibility

deny contains {"code": "customer_blocked", "message": "Blocked.", "rule": "tenant.lists"} if data.punchcard.eligibility.lists.blocked
`,
	}}
	assertDecidesAsCombined(t, Eligibility, p, true, eligibilityInput(), set(eligibilityInput(), "customer/id", "cust_blocked_2"))
}

func TestSplitFraudReviewAndRiskScore(t *testing.T) {
	near := set(fraudInput(), "velocity/customer_redemptions_last_hour", 9)
	over := set(set(fraudInput(), "velocity/customer_redemptions_last_hour", 12), "request/ip", "198.51.100.23")
	p := TenantPolicy{Version: "v1", Modules: Modules{"tenant/ip.rego": `package punchcard.fraud

deny contains {"code": "ip_blocked", "message": "Blocked address.", "rule": "tenant.ip"} if input.request.ip == "198.51.100.23"

review contains {"code": "watched_agent", "message": "Watched user agent.", "rule": "tenant.agent"} if startswith(input.request.user_agent, "PunchcardPOS/")

review contains {"code": "velocity_exceeded", "message": "Close to the limit: The customer has made too many redemptions in the last hour.", "rule": "fraud.max_redemptions_per_customer_per_hour"} if input.velocity.customer_redemptions_last_hour >= 8
`}}
	assertDecidesAsCombined(t, Fraud, p, true, fraudInput(), near, over)

	// A tenant risk_score is compiled with the base one (whose default always
	// defines it): the two conflict or agree as before.
	score := TenantPolicy{Version: "v2", Modules: Modules{"tenant/score.rego": `package punchcard.fraud

risk_score := 0 if input.request.ip == "203.0.113.7"
`}}
	assertDecidesAsCombined(t, Fraud, score, false, fraudInput(), set(fraudInput(), "velocity/customer_redemptions_last_hour", 0))
}

func TestSplitSegmentsMembers(t *testing.T) {
	p := TenantPolicy{Version: "v1", Data: map[string]any{"vip": []any{"cust_01JD8Z"}}, Modules: Modules{
		"tenant/a.rego": `package punchcard.segments

member contains "big_spenders" if input.customer.stats.total_spent >= 40000

member contains "vip" if input.customer.id in data.tenant.vip
`,
		"tenant/b.rego": `package punchcard.segments

member contains "big_spenders" if input.customer.stats.orders_count > 10

member contains "dutch" if input.customer.address.country == "NL"
`,
	}}
	in := eligibilityInput()
	assertDecidesAsCombined(t, Segments, p, true, in, set(eligibilityInput(), "customer/address/country", "BE"))
	d, err := newTestEngine(t, Options{TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return p, nil }}).Evaluate(context.Background(), "ten_01", Segments, in)
	if want := []string{"big_spenders", "dutch", "vip"}; err != nil || !reflect.DeepEqual(d.Members, want) {
		t.Fatalf("Members = %q, %v; want %q", d.Members, err, want)
	}
}

func TestSplitBuiltinsAndWith(t *testing.T) {
	p := TenantPolicy{Version: "v1", Modules: Modules{"tenant/with.rego": `package punchcard.eligibility

fake_now := 5

too_early if time.now_ns() < 10

deny contains "early" if too_early with time.now_ns as fake_now

deny contains "summed" if count([1, 2]) == 3 with count as sum

review contains sprintf("%s-%d", [upper(input.channel), count(input.order.items)]) if regex.match("^p", input.channel)

review contains base64.encode(input.customer.id) if input.customer.id
`}}
	assertDecidesAsCombined(t, Eligibility, p, true, eligibilityInput())
	d, err := newTestEngine(t, Options{TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return p, nil }}).Evaluate(context.Background(), "ten_01", Eligibility, eligibilityInput())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summarize(d.Deny), []string{"early tenant", "summed tenant"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Deny = %q, want %q", got, want)
	}
	if got, want := summarize(d.Review), []string{"POS-2 tenant", "Y3VzdF8wMUpEOFo= tenant"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Review = %q, want %q", got, want)
	}
}

func TestSplitTimeoutInTenantPart(t *testing.T) {
	p := TenantPolicy{Version: "v1", Modules: Modules{"tenant/runaway.rego": runaway}}
	c, err := build(context.Background(), Eligibility, p)
	if err != nil || !c.split {
		t.Fatalf("build: split %v, %v; want split", c != nil && c.split, err)
	}
	e := newTestEngine(t, Options{Timeout: 300 * time.Millisecond, TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return p, nil }})
	d, err := e.Evaluate(context.Background(), "ten_slow", Eligibility, set(eligibilityInput(), "tenant/id", "ten_slow"))
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if d.Allowed() || len(d.Deny) != 1 || d.Deny[0].Code != CodeTimeout {
		t.Fatalf("Decision = %+v, want one %s deny", d, CodeTimeout)
	}
	// An evaluation error in the tenant part fails closed too.
	broken := TenantPolicy{Version: "v2", Modules: Modules{"tenant/div.rego": "package punchcard.eligibility\n\ndeny contains \"x\" if input.order.amount / 0 > 1\n"}}
	e = newTestEngine(t, Options{TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return broken, nil }})
	if d, err := e.Evaluate(context.Background(), "ten_01", Eligibility, eligibilityInput()); err == nil || d.Deny[0].Code != CodeError {
		t.Fatalf("Decision = %+v, %v; want a %s deny and an error", d, err, CodeError)
	}
}
