package redemption

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func TestStackingRulesRoundTrip(t *testing.T) {
	eachDB(t, func(t *testing.T, e *guardEnv) {
		ctx := context.Background()
		s := NewSettings(e.db, audit.New(e.db, time.Now, slog.New(slog.DiscardHandler)), time.Now)
		got, err := s.StackingRules(ctx, e.tenantID)
		if err != nil || got.RedeemablesLimit != 30 || got.ApplicableRedeemablesLimit != 5 || got.RedeemablesSortingRule != "REQUESTED_ORDER" {
			t.Fatalf("defaults: %+v, %v", got, err)
		}
		r := DefaultStackingRules()
		r.ExclusiveCategories = []string{"general-15"}
		r.JointCategories = []string{"loyalty-20"}
		r.RedeemablesApplicationMode = "PARTIAL"
		r.DiscountCalculationMode = CalcInitial
		if _, err := s.SetStackingRules(ctx, e.tenantID, r); err != nil {
			t.Fatal(err)
		}
		got, err = s.StackingRules(ctx, e.tenantID)
		if err != nil || got.ExclusiveCategories[0] != "general-15" || got.RedeemablesApplicationMode != "PARTIAL" || got.DiscountCalculationMode != CalcInitial {
			t.Fatalf("stored: %+v, %v", got, err)
		}
		// Replacing works too (the upsert path).
		r.ApplicableRedeemablesLimit = 2
		if _, err := s.SetStackingRules(ctx, e.tenantID, r); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.StackingRules(ctx, e.tenantID); got.ApplicableRedeemablesLimit != 2 {
			t.Fatalf("replaced: %+v", got)
		}
		for field, mutate := range map[string]func(*StackingRules){
			"redeemables_limit":            func(r *StackingRules) { r.RedeemablesLimit = 31 },
			"applicable_redeemables_limit": func(r *StackingRules) { r.ApplicableRedeemablesLimit = 0 },
			"redeemables_sorting_rule":     func(r *StackingRules) { r.RedeemablesSortingRule = "RANDOM" },
			"joint_categories":             func(r *StackingRules) { r.JointCategories = []string{"general-15"} },
			"discount_calculation_mode":    func(r *StackingRules) { r.DiscountCalculationMode = "" },
			"exclusive_categories":         func(r *StackingRules) { r.ExclusiveCategories = []string{" "} },
		} {
			bad := r
			mutate(&bad)
			_, err := s.SetStackingRules(ctx, e.tenantID, bad)
			var p *problem.Error
			if !errors.As(err, &p) || p.Field != field {
				t.Errorf("%s: %v", field, err)
			}
		}
		if got, _ := s.StackingRules(ctx, e.tenantID); got.ApplicableRedeemablesLimit != 2 {
			t.Fatalf("a refused update changed the rules: %+v", got)
		}
	})
}
