package redemption

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func TestStackingRulesRoundTrip(t *testing.T) {
	eachDB(t, func(t *testing.T, e *guardEnv) {
		ctx := context.Background()
		s := NewSettings(e.db, audit.New(e.db, time.Now), time.Now)
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
			// No more per category than in all.
			"applicable_redeemables_per_category_limit": func(r *StackingRules) {
				r.ApplicableRedeemablesLimit, r.ApplicableRedeemablesPerCategoryLimit = 3, 4
			},
			"applicable_exclusive_redeemables_per_category_limit": func(r *StackingRules) {
				r.ApplicableExclusiveRedeemablesLimit, r.ApplicableExclusiveRedeemablesPerCategoryLimit = 1, 2
			},
			"redeemables_sorting_rule":  func(r *StackingRules) { r.RedeemablesSortingRule = "RANDOM" },
			"joint_categories":          func(r *StackingRules) { r.JointCategories = []string{"general-15"} },
			"discount_calculation_mode": func(r *StackingRules) { r.DiscountCalculationMode = "" },
			"exclusive_categories":      func(r *StackingRules) { r.ExclusiveCategories = []string{" "} },
			// No more exclusive redeemables than redeemables.
			"applicable_exclusive_redeemables_limit": func(r *StackingRules) { r.ApplicableExclusiveRedeemablesLimit = 3 },
			"category_hierarchy":                     func(r *StackingRules) { r.CategoryHierarchy = []string{"a", "b", "a"} },
			"incompatible_categories[1]": func(r *StackingRules) {
				r.IncompatibleCategories = [][]string{{"a", "b"}, {"c", "c"}}
			},
			"incompatible_categories[0]": func(r *StackingRules) { r.IncompatibleCategories = [][]string{{"a", "b\x00"}} },
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

// A node reuses a tenant's stacking rules for StackingCacheTTL: a change made
// through the node applies to its next read, one made through another node
// within the TTL.
func TestStackingRulesCache(t *testing.T) {
	eachDB(t, func(t *testing.T, e *guardEnv) {
		ctx := context.Background()
		log := audit.New(e.db, time.Now)
		a, b := NewSettings(e.db, log, time.Now), NewSettings(e.db, log, time.Now)
		read := func(s *Settings) StackingRules {
			t.Helper()
			var r StackingRules
			err := e.db.Read(ctx, e.tenantID, func(ctx context.Context, tx bun.Tx) error {
				var err error
				r, err = s.cachedStackingRules(ctx, tx, e.tenantID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if got := read(a).ApplicableRedeemablesLimit; got != 5 {
			t.Fatalf("default limit %d, want 5", got)
		}
		r := DefaultStackingRules()
		r.ApplicableRedeemablesLimit = 2
		if _, err := a.SetStackingRules(ctx, e.tenantID, r); err != nil {
			t.Fatal(err)
		}
		if got := read(a).ApplicableRedeemablesLimit; got != 2 {
			t.Fatalf("the changing node reads %d, want 2 at once", got)
		}
		// The other node read the rules before the change.
		read(b)
		r.ApplicableRedeemablesLimit = 3
		if _, err := a.SetStackingRules(ctx, e.tenantID, r); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(StackingCacheTTL + 2*time.Second)
		for read(b).ApplicableRedeemablesLimit != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("another node still reads the old rules %s after the change", StackingCacheTTL+2*time.Second)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
