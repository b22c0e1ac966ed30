package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const blockedCustomers = `package punchcard.eligibility

deny contains {"code": "customer_blocked", "message": "This customer cannot redeem.", "rule": "tenant.blocked_customers"} if {
	input.customer.id in data.tenant.blocked_customers
}
`

func TestCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		kind    Kind
		policy  TenantPolicy
		problem string // "" means valid; else "file:row:col: fragment" prefix-free fragment
		file    string
		row     int
	}{
		{name: "valid with data", kind: Eligibility, policy: TenantPolicy{
			Version: "v1",
			Modules: Modules{"blocked.rego": blockedCustomers, "blocked_test.rego": "package punchcard.eligibility_test\n\ntest_ok if true\n"},
			Data:    map[string]any{"blocked_customers": []any{"cust_bad"}},
		}},
		{name: "subpackage", kind: Fraud, policy: TenantPolicy{Modules: Modules{"lib/helpers.rego": "package punchcard.fraud.lib\n\nlimit := 3\n"}}},
		{name: "segments", kind: Segments, policy: TenantPolicy{Modules: Modules{"vip.rego": "package punchcard.segments\n\nmember contains \"vip\" if input.customer.tier == \"gold\"\n"}}},
		{name: "stacking replacing the base", kind: Stacking, policy: TenantPolicy{ReplaceBase: true, Modules: Modules{
			"only_one.rego": "package punchcard.stacking\n\ndeny contains {\"code\": \"one\", \"message\": \"One at a time.\", \"rule\": \"tenant.one\"} if count(input.applied) > 0\n",
		}}},
		{name: "another kind's package", kind: Eligibility, policy: TenantPolicy{Modules: Modules{"sneaky.rego": "package punchcard.fraud\n\ndeny contains \"x\" if true\n"}},
			problem: "package punchcard.fraud is not allowed in a eligibility policy", file: "sneaky.rego", row: 1},
		{name: "package prefix is not a subpackage", kind: Eligibility, policy: TenantPolicy{Modules: Modules{"p.rego": "package punchcard.eligibilityx\n\nx := 1\n"}},
			problem: "package punchcard.eligibilityx is not allowed", file: "p.rego", row: 1},
		{name: "not .rego", kind: Fraud, policy: TenantPolicy{Modules: Modules{"rules.txt": "package punchcard.fraud\n"}},
			problem: "module names must end in .rego", file: "rules.txt"},
		{name: "test file does not parse", kind: Fraud, policy: TenantPolicy{Modules: Modules{"x_test.rego": "package punchcard.fraud_test\n\ntest_x if {\n"}},
			problem: "unexpected eof", file: "x_test.rego", row: 4},
		{name: "http.send", kind: Fraud, policy: TenantPolicy{Modules: Modules{"lookup.rego": "package punchcard.fraud\n\ndeny contains \"x\" if {\n\thttp.send({\"method\": \"GET\", \"url\": \"https://x.example\"}).status_code == 200\n}\n"}},
			problem: "http.send is not allowed in Punchcard policies", file: "lookup.rego", row: 4},
		{name: "replace base on eligibility", kind: Eligibility, policy: TenantPolicy{ReplaceBase: true},
			problem: "replace_base is only allowed for stacking policies"},
		{name: "strict compile against the base", kind: Eligibility, policy: TenantPolicy{Modules: Modules{"override.rego": "package punchcard.eligibility\n\ndeny := set()\n"}},
			problem: "conflicting rules data.punchcard.eligibility.deny", file: "base/eligibility/eligibility.rego", row: 11},
		{name: "data not JSON", kind: Eligibility, policy: TenantPolicy{Data: map[string]any{"f": func() {}}},
			problem: "data: not a JSON object"},
		{name: "huge constant range", kind: Eligibility, policy: TenantPolicy{Modules: Modules{"range.rego": "package punchcard.eligibility\n\ndeny contains \"big\" if {\n\tsome n in numbers.range(1, 1e12)\n\tn == input.x\n}\n"}},
			problem: "numbers.range would generate 1000000000000 numbers, at most 1000000 allowed", file: "range.rego", row: 4},
		{name: "unknown kind", kind: Kind("pricing"), policy: TenantPolicy{}, problem: `unknown kind "pricing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(ctx, tt.kind, tt.policy)
			if tt.problem == "" && tt.file == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check accepted the policy")
			}
			ps := Problems(err)
			if len(ps) == 0 {
				t.Fatalf("Problems(%v) is empty", err)
			}
			p := ps[0]
			if !strings.Contains(p.Message, tt.problem) || p.File != tt.file || p.Row != tt.row {
				t.Errorf("first problem = %+v, want file %q row %d message containing %q (all: %v)", p, tt.file, tt.row, tt.problem, ps)
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("10 MB module", func(t *testing.T) {
		huge := "package punchcard.eligibility\n\n# " + strings.Repeat("x", 10<<20) + "\n"
		err := Check(ctx, Eligibility, TenantPolicy{Modules: Modules{"huge.rego": huge}})
		ps := Problems(err)
		if len(ps) != 1 || ps[0].File != "huge.rego" || !strings.Contains(ps[0].Message, "at most 262144 allowed") {
			t.Fatalf("problems = %+v, want the module refused by size", ps)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		deep := "package punchcard.eligibility\n\nnested := " + strings.Repeat("[", 200) + "1" + strings.Repeat("]", 200) + "\n"
		ps := Problems(Check(ctx, Eligibility, TenantPolicy{Modules: Modules{"deep.rego": deep}}))
		if len(ps) != 1 || ps[0].File != "deep.rego" || ps[0].Row != 3 || !strings.Contains(ps[0].Message, fmt.Sprintf("nesting deeper than %d", MaxASTDepth)) {
			t.Fatalf("problems = %+v, want one nesting problem on deep.rego row 3", ps)
		}
	})
	t.Run("deep comprehensions", func(t *testing.T) {
		body := "input.x"
		for range 30 {
			body = "[y | some y in " + body + "]"
		}
		ps := Problems(Check(ctx, Eligibility, TenantPolicy{Modules: Modules{"deep.rego": "package punchcard.eligibility\n\nnested := " + body + "\n"}}))
		if len(ps) != 1 || !strings.Contains(ps[0].Message, "nesting deeper than") {
			t.Fatalf("problems = %+v, want a nesting problem", ps)
		}
	})
	t.Run("big data", func(t *testing.T) {
		err := Check(ctx, Eligibility, TenantPolicy{Data: map[string]any{"x": strings.Repeat("x", MaxDataBytes)}})
		if err == nil || !strings.Contains(err.Error(), "data:") {
			t.Fatalf("err = %v, want the data document refused by size", err)
		}
	})
	t.Run("base modules pass", func(t *testing.T) {
		for _, k := range Kinds {
			if err := Check(ctx, k, TenantPolicy{}); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
	})
}

func TestProblemsJSON(t *testing.T) {
	err := Check(context.Background(), Fraud, TenantPolicy{Modules: Modules{
		"a.rego": "package punchcard.fraud\n\ndeny contains \"x\" if opa.runtime().env.X == \"1\"\n",
		"b.rego": "package punchcard.fraud\n\ndeny contains \"y\" if trace(\"hi\")\n",
	}})
	got, _ := json.Marshal(Problems(err))
	want := `[{"file":"a.rego","row":3,"col":22,"message":"opa.runtime is not allowed in Punchcard policies: policies cannot reach the network, the host's runtime or trace output"},` +
		`{"file":"b.rego","row":3,"col":22,"message":"trace is not allowed in Punchcard policies: policies cannot reach the network, the host's runtime or trace output"}]`
	if string(got) != want {
		t.Errorf("Problems = %s\nwant %s", got, want)
	}
	if ps := Problems(fmt.Errorf("plain")); len(ps) != 1 || ps[0].Message != "plain" || ps[0].File != "" {
		t.Errorf("Problems(plain) = %+v", ps)
	}
	if got, _ := json.Marshal(Problem{Message: "m"}); string(got) != `{"message":"m"}` {
		t.Errorf("Problem without location = %s", got)
	}
	if Problems(nil) != nil {
		t.Error("Problems(nil) is not nil")
	}
}

func TestEvaluateTenantData(t *testing.T) {
	versions := map[string]TenantPolicy{
		"ten_a": {Version: "v1", Modules: Modules{"blocked.rego": blockedCustomers}, Data: map[string]any{"blocked_customers": []any{"cust_01JD8Z"}}},
		"ten_b": {Version: "v1", Modules: Modules{"blocked.rego": blockedCustomers}, Data: map[string]any{"blocked_customers": []any{"cust_other"}}},
	}
	e := newTestEngine(t, Options{TenantModules: func(_ context.Context, tenantID string, _ Kind) (TenantPolicy, error) {
		return versions[tenantID], nil
	}})
	d, err := e.Evaluate(context.Background(), "ten_a", Eligibility, eligibilityInput())
	if err != nil || summarize(d.Deny)[0] != "customer_blocked tenant.blocked_customers" {
		t.Fatalf("ten_a: %+v, %v; want customer_blocked", d, err)
	}
	// Same version name, other tenant, other data: its own cache entry and data.
	if d, err := e.Evaluate(context.Background(), "ten_b", Eligibility, eligibilityInput()); err != nil || !d.Allowed() {
		t.Fatalf("ten_b: %+v, %v; want allowed", d, err)
	}
}

func TestEvaluateSegments(t *testing.T) {
	vip := TenantPolicy{Version: "v3", Modules: Modules{"vip.rego": `package punchcard.segments

member contains "big_spenders" if input.customer.stats.total_spent >= 40000

member contains "weekend" if input.local.weekday >= 6

member contains name if {
	some name in data.tenant.always
}
`}, Data: map[string]any{"always": []any{"everyone"}}}
	compiles := 0
	e := newTestEngine(t, Options{TenantModules: func(_ context.Context, tenantID string, _ Kind) (TenantPolicy, error) {
		if tenantID == "ten_vip" {
			compiles++
			return vip, nil
		}
		return TenantPolicy{}, nil
	}})
	d, err := e.Evaluate(context.Background(), "ten_vip", Segments, eligibilityInput())
	if err != nil || !slices.Equal(d.Members, []string{"big_spenders", "everyone"}) || !d.Allowed() || d.Duration <= 0 {
		t.Fatalf("Decision = %+v, %v; want members big_spenders, everyone", d, err)
	}
	d, err = e.Evaluate(context.Background(), "ten_plain", Segments, eligibilityInput())
	if err != nil || d.Members != nil || !d.Allowed() || d.Kind != Segments {
		t.Fatalf("tenant without segments policy: %+v, %v; want no members", d, err)
	}
	if e.base[Segments].q != nil || e.cache.len() != 1 {
		t.Errorf("a tenant without a segments policy compiled something")
	}
}

func TestEvaluatePolicy(t *testing.T) {
	active := TenantPolicy{Version: "v1"}
	e := newTestEngine(t, Options{TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return active, nil }})
	draft := TenantPolicy{Version: "v2", Modules: Modules{"pos_only.rego": `package punchcard.eligibility

deny contains "online_not_allowed" if input.channel == "online"

deny contains {"code": "no_tuesday", "message": "Not on Tuesdays."} if input.local.weekday == 2
`}}
	in := set(set(eligibilityInput(), "channel", "online"), "local/weekday", 2)
	in = set(in, "redeemable/campaign/validity_day_of_week", nil)
	in = set(in, "redeemable/campaign/validity_hours", nil)
	d, err := e.EvaluatePolicy(context.Background(), "ten_01", Eligibility, draft, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"no_tuesday tenant", "online_not_allowed tenant"}
	if got := summarize(d.Deny); !slices.Equal(got, want) || d.Duration <= 0 {
		t.Errorf("Deny = %q (duration %s), want %q", got, d.Duration, want)
	}
	if d, err := e.Evaluate(context.Background(), "ten_01", Eligibility, in); err != nil || !d.Allowed() {
		t.Errorf("active version: %+v, %v; want allowed", d, err)
	}
	if e.cache.len() != 2 {
		t.Errorf("cache holds %d entries, want v1 and v2", e.cache.len())
	}
	if _, err := e.EvaluatePolicy(context.Background(), "ten_01", Eligibility, TenantPolicy{Modules: draft.Modules}, in); err == nil {
		t.Error("a policy with modules but no version was evaluated")
	}
}

func TestEvaluateStackingReplaceBase(t *testing.T) {
	// The base denies the loyalty discount after the general one; a tenant that
	// replaces the base stacking rules with "at most three" lets it through.
	input := func() map[string]any {
		return set(stackingInput(), "stacking/incompatible_categories", []any{[]any{"general_discount", "loyalty_member"}})
	}
	three := Modules{"three.rego": `package punchcard.stacking

deny contains {"code": "too_many", "message": "At most three.", "rule": "tenant.three"} if count(input.applied) >= 3
`}
	for _, tt := range []struct {
		replace bool
		allowed bool
	}{{false, false}, {true, true}} {
		p := TenantPolicy{Version: fmt.Sprintf("v-%v", tt.replace), Modules: three, ReplaceBase: tt.replace}
		if err := Check(context.Background(), Stacking, p); err != nil {
			t.Fatalf("Check: %v", err)
		}
		e := newTestEngine(t, Options{})
		d, err := e.EvaluatePolicy(context.Background(), "ten_01", Stacking, p, input())
		if err != nil || d.Allowed() != tt.allowed {
			t.Errorf("ReplaceBase %v: %+v, %v; want allowed %v", tt.replace, d, err, tt.allowed)
		}
		in4 := set(input(), "applied", []any{map[string]any{}, map[string]any{}, map[string]any{}})
		if d, _ := e.EvaluatePolicy(context.Background(), "ten_01", Stacking, p, in4); d.Allowed() {
			t.Errorf("ReplaceBase %v: the tenant's own rule did not deny", tt.replace)
		}
	}
}
