package policies

import (
	"context"
	"strings"
	"testing"
)

// FuzzCheck feeds arbitrary module source to Check, as a tenant uploading a
// policy could (R15: policy upload). Check must never panic, and every error
// must come out as at least one problem.
func FuzzCheck(f *testing.F) {
	for _, src := range []string{
		blockedCustomers,
		runawayPolicies["cartesian comprehension"],
		"package punchcard.fraud\n\ndeny contains \"x\" if http.send({})\n",
		"package punchcard.eligibility\n\nx := " + strings.Repeat("[", 80) + strings.Repeat("]", 80) + "\n",
		"package punchcard.eligibility\n\ndeny contains \"r\" if count(numbers.range_step(0, 1e300, -1)) > 0\n",
		"package punchcard.segments\n\nmember contains input.customer.tier if true\n",
		"package punchcard.eligibility\n\nimport data.x as http\n\nf(x) := http.send(x)\n",
		"package punchcard.stacking\n\ndeny := set()\n",
		"package punchcard.eligibility\n\ndeny contains {\"code\": \"x\"} if { x := [y | y := 1e1000] }\n",
		"package",
		"",
	} {
		f.Add(src, "eligibility")
	}
	f.Fuzz(func(t *testing.T, src, kind string) {
		k := Kind(kind)
		if !k.Valid() {
			k = Eligibility
		}
		err := Check(context.Background(), k, TenantPolicy{Modules: Modules{"fuzz.rego": src}, Data: map[string]any{"src": src}})
		if err != nil && len(Problems(err)) == 0 {
			t.Errorf("error %v has no problems", err)
		}
	})
}
