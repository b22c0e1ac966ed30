package policies_test

import (
	"context"
	"fmt"

	"github.com/punchcard-loyalty/punchcard/policies"
)

// A stacking decision for a tenant whose 15% general discount must not combine
// with its 20% loyalty-member discount.
func ExampleEngine_Evaluate() {
	engine, err := policies.New(policies.Options{})
	if err != nil {
		panic(err)
	}
	d, err := engine.Evaluate(context.Background(), "ten_01", policies.Stacking, map[string]any{
		"candidate": map[string]any{"object": "voucher", "id": "v_loyalty20", "category": "loyalty_member"},
		"applied":   []any{map[string]any{"object": "voucher", "id": "v_general15", "category": "general_discount"}},
		"stacking":  map[string]any{"incompatible_categories": []any{[]any{"general_discount", "loyalty_member"}}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Allowed())
	for _, r := range d.Deny {
		fmt.Println(r.Code, r.Rule)
	}
	// Output:
	// false
	// exclusion_rules_not_met stacking.incompatible_categories
}

// Checking a tenant module before publishing it: the sandbox has no network.
func ExampleCheckModules() {
	err := policies.CheckModules(policies.Base(policies.Fraud).With(policies.Modules{
		"tenant/lookup.rego": `package punchcard.fraud

deny contains {"code": "ip_blocked", "message": "Blocked address.", "rule": "tenant.lookup"} if {
	http.send({"method": "GET", "url": "https://blocklist.example"}).status_code == 200
}
`,
	}))
	fmt.Println(err)
	// Output:
	// check modules: 1 error occurred: tenant/lookup.rego:4: rego_compile_error: http.send is not allowed in Punchcard policies: policies cannot reach the network, the host's runtime or trace output
}
