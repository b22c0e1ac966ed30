package policies

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// R10: hostile Rego. What Check can see statically is refused at publish with
// a located, named error; what only shows at evaluation is cut off at the
// deadline with a policy_timeout deny while other tenants keep deciding.

// hostileTimeout is far longer than a base evaluation takes even under the race
// detector on a busy two-core machine, and far shorter than any of the runaway
// policies below.
const hostileTimeout = time.Second

var runawayPolicies = map[string]string{
	// The range's bound comes from the data document, so Check cannot see it;
	// OPA checks for cancellation while generating the numbers.
	"huge numbers.range": `package punchcard.eligibility

deny contains {"code": "never", "message": "never", "rule": "tenant.range"} if {
	some n in numbers.range(1, data.tenant.upper)
	n < 0
}
`,
	"cartesian comprehension": `package punchcard.eligibility

deny contains {"code": "never", "message": "never", "rule": "tenant.cartesian"} if {
	pairs := [p |
		some a in numbers.range(1, 100000)
		some b in numbers.range(1, 100000)
		p := a * b
	]
	count(pairs) < 0
}
`,
	"triple loop over the data document": `package punchcard.eligibility

deny contains {"code": "never", "message": "never", "rule": "tenant.loop"} if {
	some a in data.tenant.ids
	some b in data.tenant.ids
	some c in data.tenant.ids
	a + b + c < 0
}
`,
}

func TestHostileRegoPassesCheckAndTimesOut(t *testing.T) {
	ids := make([]any, 5000)
	for i := range ids {
		ids[i] = i
	}
	data := map[string]any{"upper": 1e12, "ids": ids}
	for name, src := range runawayPolicies {
		t.Run(name, func(t *testing.T) {
			p := TenantPolicy{Version: "v1", Modules: Modules{"runaway.rego": src}, Data: data}
			if err := Check(context.Background(), Eligibility, p); err != nil {
				t.Fatalf("Check: %v", err)
			}
			e := newTestEngine(t, Options{
				Timeout: hostileTimeout,
				TenantModules: func(_ context.Context, tenantID string, _ Kind) (TenantPolicy, error) {
					if tenantID == "ten_hostile" {
						return p, nil
					}
					return TenantPolicy{}, nil
				},
			})
			// Compile the base query first, so that only evaluation races.
			if d, err := e.Evaluate(context.Background(), "ten_warm", Eligibility, eligibilityInput()); err != nil || !d.Allowed() {
				t.Fatalf("warm-up: %+v, %v", d, err)
			}
			var wg sync.WaitGroup
			hostile := make([]Decision, 2)
			for i := range hostile {
				wg.Go(func() {
					hostile[i], _ = e.Evaluate(context.Background(), "ten_hostile", Eligibility, eligibilityInput())
				})
			}
			others := make([]Decision, 4)
			errs := make([]error, len(others))
			for i := range others {
				wg.Go(func() {
					others[i], errs[i] = e.Evaluate(context.Background(), fmt.Sprintf("ten_%d", i), Eligibility, eligibilityInput())
				})
			}
			wg.Wait()
			for i, d := range hostile {
				if len(d.Deny) != 1 || d.Deny[0].Code != CodeTimeout {
					t.Errorf("hostile evaluation %d: %+v, want one %s deny", i, d, CodeTimeout)
				}
			}
			for i, d := range others {
				if errs[i] != nil || !d.Allowed() {
					t.Errorf("other tenant %d: %+v, %v; want allowed", i, d, errs[i])
				}
			}
		})
	}
}

func TestHostileRegoRefusedByCheck(t *testing.T) {
	tests := []struct {
		name, src, want string
		row             int
	}{
		{"http.send", "package punchcard.fraud\n\ndeny contains \"x\" if {\n\thttp.send({\"method\": \"GET\", \"url\": \"https://x.example\"})\n}\n", "http.send is not allowed in Punchcard policies", 4},
		{"net.lookup_ip_addr", "package punchcard.fraud\n\ndeny contains \"x\" if {\n\tsome a in net.lookup_ip_addr(\"evil.example\")\n\ta == input.request.ip\n}\n", "net.lookup_ip_addr is not allowed in Punchcard policies", 4},
		{"opa.runtime", "package punchcard.fraud\n\nsecret := opa.runtime().env.SECRET\n", "opa.runtime is not allowed in Punchcard policies", 3},
		{"trace in a function", "package punchcard.fraud\n\nf(x) := y if {\n\ttrace(x)\n\ty := x\n}\n", "trace is not allowed in Punchcard policies", 4},
		{"constant huge numbers.range", "package punchcard.fraud\n\nbig := count(numbers.range(1, 1e12))\n", "numbers.range would generate", 3},
		{"constant huge numbers.range_step", "package punchcard.fraud\n\nbig := count(numbers.range_step(0, 1e12, 2))\n", "numbers.range_step would generate 500000000001 numbers", 3},
		{"deep nesting", "package punchcard.fraud\n\nx := " + strings.Repeat("{", 100) + "1" + strings.Repeat("}", 100) + "\n", "nesting deeper than", 3},
		{"10 MB module", "package punchcard.fraud\n\n# " + strings.Repeat("A", 10<<20) + "\n", "bytes, at most", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := TenantPolicy{Version: "v1", Modules: Modules{"hostile.rego": tt.src}}
			ps := Problems(Check(context.Background(), Fraud, p))
			if len(ps) != 1 || ps[0].File != "hostile.rego" || ps[0].Row != tt.row || !strings.Contains(ps[0].Message, tt.want) {
				t.Fatalf("problems = %v, want one on hostile.rego row %d containing %q", ps, tt.row, tt.want)
			}
			if tt.row != 0 && ps[0].Col == 0 {
				t.Errorf("problem %v has no column", ps[0])
			}
			// The engine refuses the same module if it ever reaches it unchecked.
			e := newTestEngine(t, Options{TenantModules: func(context.Context, string, Kind) (TenantPolicy, error) { return p, nil }})
			d, err := e.Evaluate(context.Background(), "ten_hostile", Fraud, fraudInput())
			if err == nil || len(d.Deny) != 1 || d.Deny[0].Code != CodeError {
				t.Errorf("engine: %+v, %v; want a %s deny", d, err, CodeError)
			}
		})
	}
}

// A function or import of the tenant's own that shares a forbidden builtin's
// name is not the builtin.
func TestCheckAllowsShadowingNames(t *testing.T) {
	p := TenantPolicy{Modules: Modules{"t.rego": `package punchcard.fraud

import data.punchcard.fraud.lib as http

deny contains "x" if http.send == 1

review contains "y" if trace(input.request.ip)

trace(ip) if ip == "198.51.100.1"
`, "lib.rego": "package punchcard.fraud.lib\n\nsend := 1\n"}}
	if err := Check(context.Background(), Fraud, p); err != nil {
		t.Fatalf("Check: %v", err)
	}
}
