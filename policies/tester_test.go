package policies

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestRunTenantTests(t *testing.T) {
	tests := `package punchcard.eligibility_test

import data.punchcard.eligibility

blocked_input := {"customer": {"id": "cust_bad"}, "order": {"amount": 100}, "redeemable": {"campaign": {}}}

test_blocked_customer_is_denied if {
	some r in eligibility.deny with input as blocked_input
	r.code == "customer_blocked"
}

test_base_rules_still_apply if {
	some r in eligibility.deny with input as object.union(blocked_input, {"redeemable": {"campaign": {"rules": {"min_order_amount": 500}}}})
	r.rule == "rules.min_order_amount"
}

test_wrong_expectation if {
	count(eligibility.deny) == 0 with input as blocked_input
}
`
	p := TenantPolicy{
		Version: "v1",
		Modules: Modules{"blocked.rego": blockedCustomers, "blocked_test.rego": tests},
		Data:    map[string]any{"blocked_customers": []any{"cust_bad"}},
	}
	results, err := RunTenantTests(context.Background(), Eligibility, p)
	if err != nil {
		t.Fatalf("RunTenantTests: %v", err)
	}
	var got []string
	for _, r := range results {
		if r.File != "blocked_test.rego" || r.Package != "data.punchcard.eligibility_test" {
			t.Errorf("a test outside the tenant's files ran: %s", r)
		}
		got = append(got, r.Name+" "+map[bool]string{true: "pass", false: "fail"}[r.Pass()])
	}
	want := []string{"test_blocked_customer_is_denied pass", "test_base_rules_still_apply pass", "test_wrong_expectation fail"}
	if !slices.Equal(got, want) {
		t.Errorf("results = %q, want %q", got, want)
	}

	t.Run("replace base", func(t *testing.T) {
		p := TenantPolicy{ReplaceBase: true, Modules: Modules{"none_test.rego": `package punchcard.stacking_test

import data.punchcard.stacking

test_no_base_rules if {
	count({r | some r in stacking.deny}) == 0 with input as {"candidate": {"exclusive": true}, "applied": [{"exclusive": true}]}
}
`}}
		results, err := RunTenantTests(context.Background(), Stacking, p)
		if err != nil || len(results) != 1 || !results[0].Pass() {
			t.Fatalf("results %v, err %v; want one passing test", results, err)
		}
		p.ReplaceBase = false
		results, err = RunTenantTests(context.Background(), Stacking, p)
		if err != nil || len(results) != 1 || results[0].Pass() {
			t.Fatalf("with the base: results %v, err %v; want one failing test", results, err)
		}
	})
	t.Run("compile error", func(t *testing.T) {
		p := TenantPolicy{Modules: Modules{"x_test.rego": "package punchcard.fraud_test\n\ntest_x if {\n\tunused := 1\n\ttrue\n}\n"}}
		_, err := RunTenantTests(context.Background(), Fraud, p)
		ps := Problems(err)
		if len(ps) == 0 || ps[0].File != "x_test.rego" || !strings.Contains(ps[0].Message, "unused") {
			t.Fatalf("problems = %v, want the strict-mode error in x_test.rego", ps)
		}
	})
	t.Run("forbidden builtin in a test", func(t *testing.T) {
		p := TenantPolicy{Modules: Modules{"x_test.rego": "package punchcard.fraud_test\n\ntest_x if {\n\topa.runtime()\n}\n"}}
		_, err := RunTenantTests(context.Background(), Fraud, p)
		if ps := Problems(err); len(ps) != 1 || !strings.Contains(ps[0].Message, "opa.runtime is not allowed") {
			t.Fatalf("problems = %v", ps)
		}
	})
	t.Run("no tests", func(t *testing.T) {
		results, err := RunTenantTests(context.Background(), Fraud, TenantPolicy{})
		if err != nil || len(results) != 0 {
			t.Fatalf("results %v, err %v; want none", results, err)
		}
	})
}
