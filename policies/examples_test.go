package policies_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/policies"
)

// Every worked example of README.md passes Check and its own tests as
// `punchcard policy check` and `policy test` run them, and the guide shows every
// example module as it is in examples/, so the two cannot drift.
func TestWorkedExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join("examples", "*"))
	if err != nil || len(dirs) < 6 {
		t.Fatalf("worked examples: %v (%v)", dirs, err)
	}
	ctx := context.Background()
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			kinds, err := policies.ReadDir(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			ran := 0
			for kind, p := range kinds {
				p.Version = "example"
				if err := policies.Check(ctx, kind, p); err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				results, err := policies.RunTenantTests(ctx, kind, p)
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				for _, r := range results {
					ran++
					if !r.Pass() {
						t.Errorf("%s", r)
					}
				}
				for name, src := range p.Modules {
					if !policies.IsTestFile(name) && !strings.Contains(string(readme), "```rego\n"+src+"```") {
						t.Errorf("README.md does not show %s/%s as it is", dir, name)
					}
				}
			}
			if ran == 0 {
				t.Fatalf("no test of %s ran", dir)
			}
		})
	}
}

// The eligibility input serves earning too: with input.earning_rule in place of
// input.redeemable, no base rule fires, so a tenant's customer and order rules
// are the whole decision.
func TestBaseEligibilityLeavesEarningInputsAlone(t *testing.T) {
	e, err := policies.New(policies.Options{Timeout: time.Minute}) // decisions, not speed, under -race
	if err != nil {
		t.Fatal(err)
	}
	input := map[string]any{
		"tenant": map[string]any{"id": "ten_x", "currency": "EUR", "timezone": "Europe/Berlin"},
		"now":    "2026-11-20T17:30:00Z", "local": map[string]any{"date": "2026-11-20", "weekday": 5, "hour": 18, "minute": 30},
		"channel":      "online",
		"customer":     nil,
		"order":        map[string]any{"amount": 0, "items": []any{}, "metadata": map[string]any{}},
		"earning_rule": map[string]any{"id": "ern_1", "event": "order.paid", "loyalty": map[string]any{"type": "PROPORTIONAL", "points": 1}},
	}
	d, err := e.Evaluate(context.Background(), "ten_x", policies.Eligibility, input)
	if err != nil || !d.Allowed() {
		t.Fatalf("base eligibility on an earning input = %+v, %v; want no deny", d, err)
	}
	// The same document with a disabled redeemable is denied: the rules are live.
	delete(input, "earning_rule")
	input["redeemable"] = map[string]any{"object": "voucher", "id": "X", "active": false, "campaign": map[string]any{"active": true, "rules": map[string]any{}, "limits": map[string]any{}}, "usage": map[string]any{}}
	if d, _ := e.Evaluate(context.Background(), "ten_x", policies.Eligibility, input); d.Allowed() {
		t.Fatalf("a disabled voucher is allowed: %+v", d)
	}
}
