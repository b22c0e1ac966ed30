package redemption

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/ttlcache"
)

// StackingRules are a tenant's stacking settings: Voucherify's stacking-rule object
// plus Punchcard's discount_calculation_mode. Categories are campaign category names.
// The base stacking policy reads them; the engine applies the ordering and modes.
type StackingRules struct {
	RedeemablesLimit                               int      `json:"redeemables_limit" jsonschema:"minimum=1,maximum=30"`
	ApplicableRedeemablesLimit                     int      `json:"applicable_redeemables_limit" jsonschema:"minimum=1,maximum=30"`
	ApplicableRedeemablesPerCategoryLimit          int      `json:"applicable_redeemables_per_category_limit" jsonschema:"minimum=1,maximum=30"`
	ApplicableExclusiveRedeemablesLimit            int      `json:"applicable_exclusive_redeemables_limit" jsonschema:"minimum=1,maximum=5"`
	ApplicableExclusiveRedeemablesPerCategoryLimit int      `json:"applicable_exclusive_redeemables_per_category_limit" jsonschema:"minimum=1,maximum=5"`
	ExclusiveCategories                            []string `json:"exclusive_categories"`
	JointCategories                                []string `json:"joint_categories"`
	RedeemablesApplicationMode                     string   `json:"redeemables_application_mode" jsonschema:"enum=ALL,enum=PARTIAL"`
	RedeemablesSortingRule                         string   `json:"redeemables_sorting_rule" jsonschema:"enum=CATEGORY_HIERARCHY,enum=REQUESTED_ORDER"`
	RedeemablesProductsApplicationMode             string   `json:"redeemables_products_application_mode" jsonschema:"enum=STACK,enum=ONCE"`
	RedeemablesNoEffectRule                        string   `json:"redeemables_no_effect_rule" jsonschema:"enum=REDEEM_ANYWAY,enum=SKIP"`
	NoEffectSkipCategories                         []string `json:"no_effect_skip_categories"`
	NoEffectRedeemAnywayCategories                 []string `json:"no_effect_redeem_anyway_categories"`
	// RedeemablesRollbackOrderMode is kept for the orders of loyalty programs:
	// Punchcard keeps no order object yet, so a rollback in either mode reverts
	// the discounts, and customer stats leave the rolled back order out.
	RedeemablesRollbackOrderMode string `json:"redeemables_rollback_order_mode" jsonschema:"enum=WITH_ORDER,enum=WITHOUT_ORDER,description=stored; Punchcard keeps no order objects yet: a rollback in either mode reverts the discounts and customer stats leave its order out"`
	// DiscountCalculationMode (Punchcard): percentages of the INITIAL order or of
	// the amount left after the discounts applied before (DISCOUNTED); in
	// DISCOUNTED mode a redeemable's order rules (min_order_amount) are also
	// judged on that amount, as Voucherify judges its validation rules.
	DiscountCalculationMode string `json:"discount_calculation_mode" jsonschema:"enum=INITIAL,enum=DISCOUNTED,description=INITIAL: percentages of the order as it came in; DISCOUNTED (default): of what the discounts before leave; order rules such as min_order_amount are judged on that amount too"`
	// IncompatibleCategories (Punchcard) are groups of categories whose redeemables
	// may not be combined with one another, e.g. [["general", "loyalty-member"]].
	IncompatibleCategories [][]string `json:"incompatible_categories,omitempty"`
	// CategoryHierarchy (Punchcard) orders categories for CATEGORY_HIERARCHY sorting,
	// first applied first; categories not listed come after, in request order.
	CategoryHierarchy []string `json:"category_hierarchy,omitempty"`
}

// exclusive reports whether redeemables of category are exclusive (no category
// is both exclusive and joint: check refuses it).
func (r StackingRules) exclusive(category string) bool {
	return slices.Contains(r.ExclusiveCategories, category)
}

// DefaultStackingRules are Voucherify's defaults.
func DefaultStackingRules() StackingRules {
	return StackingRules{
		RedeemablesLimit: 30, ApplicableRedeemablesLimit: 5, ApplicableRedeemablesPerCategoryLimit: 1,
		ApplicableExclusiveRedeemablesLimit: 1, ApplicableExclusiveRedeemablesPerCategoryLimit: 1,
		ExclusiveCategories: []string{}, JointCategories: []string{},
		RedeemablesApplicationMode: "ALL", RedeemablesSortingRule: "REQUESTED_ORDER",
		RedeemablesProductsApplicationMode: "STACK", RedeemablesNoEffectRule: "REDEEM_ANYWAY",
		NoEffectSkipCategories: []string{}, NoEffectRedeemAnywayCategories: []string{},
		RedeemablesRollbackOrderMode: "WITH_ORDER", DiscountCalculationMode: CalcDiscounted,
	}
}

// check validates the settings field by field.
func (r *StackingRules) check() error {
	ints := []struct {
		name     string
		v        int
		min, max int
	}{
		{"redeemables_limit", r.RedeemablesLimit, 1, 30},
		{"applicable_redeemables_limit", r.ApplicableRedeemablesLimit, 1, 30},
		{"applicable_redeemables_per_category_limit", r.ApplicableRedeemablesPerCategoryLimit, 1, 30},
		{"applicable_exclusive_redeemables_limit", r.ApplicableExclusiveRedeemablesLimit, 1, 5},
		{"applicable_exclusive_redeemables_per_category_limit", r.ApplicableExclusiveRedeemablesPerCategoryLimit, 1, 5},
	}
	for _, f := range ints {
		if f.v < f.min || f.v > f.max {
			return problem.Invalidf(f.name, "%s must be between %d and %d", f.name, f.min, f.max)
		}
	}
	for _, c := range []struct {
		name, of string
		v, limit int
	}{
		{"applicable_redeemables_limit", "redeemables_limit", r.ApplicableRedeemablesLimit, r.RedeemablesLimit},
		{"applicable_redeemables_per_category_limit", "applicable_redeemables_limit", r.ApplicableRedeemablesPerCategoryLimit, r.ApplicableRedeemablesLimit},
		{"applicable_exclusive_redeemables_per_category_limit", "applicable_exclusive_redeemables_limit", r.ApplicableExclusiveRedeemablesPerCategoryLimit, r.ApplicableExclusiveRedeemablesLimit},
		{"applicable_exclusive_redeemables_limit", "applicable_redeemables_limit", r.ApplicableExclusiveRedeemablesLimit, r.ApplicableRedeemablesLimit},
	} {
		if c.v > c.limit {
			return problem.Invalidf(c.name, "%s must not exceed %s", c.name, c.of)
		}
	}
	enums := []struct {
		name    string
		v       string
		allowed []string
	}{
		{"redeemables_application_mode", r.RedeemablesApplicationMode, []string{"ALL", "PARTIAL"}},
		{"redeemables_sorting_rule", r.RedeemablesSortingRule, []string{"CATEGORY_HIERARCHY", "REQUESTED_ORDER"}},
		{"redeemables_products_application_mode", r.RedeemablesProductsApplicationMode, []string{"STACK", "ONCE"}},
		{"redeemables_no_effect_rule", r.RedeemablesNoEffectRule, []string{"REDEEM_ANYWAY", "SKIP"}},
		{"redeemables_rollback_order_mode", r.RedeemablesRollbackOrderMode, []string{"WITH_ORDER", "WITHOUT_ORDER"}},
		{"discount_calculation_mode", r.DiscountCalculationMode, []string{CalcInitial, CalcDiscounted}},
	}
	for _, f := range enums {
		if !slices.Contains(f.allowed, f.v) {
			return problem.Invalidf(f.name, "%s must be one of %s", f.name, strings.Join(f.allowed, ", "))
		}
	}
	lists := []struct {
		name string
		v    *[]string
	}{
		{"exclusive_categories", &r.ExclusiveCategories}, {"joint_categories", &r.JointCategories},
		{"no_effect_skip_categories", &r.NoEffectSkipCategories}, {"no_effect_redeem_anyway_categories", &r.NoEffectRedeemAnywayCategories},
		{"category_hierarchy", &r.CategoryHierarchy},
	}
	for _, l := range lists {
		if *l.v == nil && l.name != "category_hierarchy" {
			*l.v = []string{}
		}
		if len(*l.v) > 100 {
			return problem.Invalidf(l.name, "%s may hold at most 100 categories", l.name)
		}
		if err := checkCategories(l.name, *l.v); err != nil {
			return err
		}
	}
	if len(r.IncompatibleCategories) > 100 {
		return problem.Invalid("incompatible_categories", "incompatible_categories may hold at most 100 groups")
	}
	for i, g := range r.IncompatibleCategories {
		f := fmt.Sprintf("incompatible_categories[%d]", i)
		if len(g) < 2 || len(g) > 100 {
			return problem.Invalidf(f, "%s: a group holds 2 to 100 category names", f)
		}
		if err := checkCategories(f, g); err != nil {
			return err
		}
	}
	for _, c := range r.ExclusiveCategories {
		if slices.Contains(r.JointCategories, c) {
			return problem.Invalidf("joint_categories", "category %q cannot be both exclusive and joint", c)
		}
	}
	for _, c := range r.NoEffectSkipCategories {
		if slices.Contains(r.NoEffectRedeemAnywayCategories, c) {
			return problem.Invalidf("no_effect_redeem_anyway_categories", "category %q cannot be both skipped and redeemed anyway", c)
		}
	}
	return nil
}

// checkCategories refuses a list of category names with an empty, overlong or
// repeated one.
func checkCategories(field string, names []string) error {
	seen := make(map[string]bool, len(names))
	for _, c := range names {
		if strings.TrimSpace(c) == "" || len(c) > 100 || strings.ContainsRune(c, 0) {
			return problem.Invalidf(field, "%s holds category names of 1 to 100 characters", field)
		}
		if seen[c] {
			return problem.Invalidf(field, "%s names %q twice", field, c)
		}
		seen[c] = true
	}
	return nil
}

type stackingRow struct {
	bun.BaseModel `bun:"table:stacking_rules,alias:sr"`

	TenantID  string          `bun:"tenant_id,pk"`
	Rules     json.RawMessage `bun:"rules,type:jsonb"`
	UpdatedAt time.Time       `bun:"updated_at"`
}

// Settings stores each tenant's stacking rules.
type Settings struct {
	db    *db.DB
	audit *audit.Log
	now   func() time.Time

	cache *ttlcache.Cache[string, StackingRules] // by tenant
}

// StackingCacheTTL is how long a node reuses a tenant's stacking rules: a change
// made through this node applies to its next request, one made through another
// node within this time.
const StackingCacheTTL = time.Second

// maxCachedStacking bounds the cache of stacking rules, in tenants.
const maxCachedStacking = 10000

// NewSettings returns the settings store.
func NewSettings(d *db.DB, a *audit.Log, now func() time.Time) *Settings {
	return &Settings{db: d, audit: a, now: now, cache: ttlcache.New[string, StackingRules](StackingCacheTTL, maxCachedStacking)}
}

// StackingRules returns the tenant's stacking rules (the defaults until set).
func (s *Settings) StackingRules(ctx context.Context, tenantID string) (StackingRules, error) {
	var out StackingRules
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = loadStackingRules(ctx, tx, tenantID)
		return err
	})
	return out, err
}

var stackingRulesOf = db.NewStatement("SELECT", "stacking_rules", func(q bun.IDB, _ int) string {
	return q.NewSelect().Model((*stackingRow)(nil)).Where("sr.tenant_id = ?", db.Placeholder).String()
})

// cachedStackingRules are tenantID's stacking rules as validations and
// redemptions use them: read in tx at most once per StackingCacheTTL.
func (s *Settings) cachedStackingRules(ctx context.Context, tx bun.IDB, tenantID string) (StackingRules, error) {
	return s.cache.Load(tenantID, func() (StackingRules, error) { return loadStackingRules(ctx, tx, tenantID) })
}

func loadStackingRules(ctx context.Context, tx bun.IDB, tenantID string) (StackingRules, error) {
	var row stackingRow
	err := stackingRulesOf.Scan(ctx, tx, &row, 0, tenantID)
	if db.IsNotFound(err) {
		return DefaultStackingRules(), nil
	}
	if err != nil {
		return StackingRules{}, fmt.Errorf("load stacking rules: %w", err)
	}
	out := DefaultStackingRules()
	if err := json.Unmarshal(row.Rules, &out); err != nil {
		return StackingRules{}, fmt.Errorf("decode stacking rules: %w", err)
	}
	return out, nil
}

// SetStackingRules replaces the tenant's stacking rules; fields left out of the
// request keep their defaults.
func (s *Settings) SetStackingRules(ctx context.Context, tenantID string, r StackingRules) (StackingRules, error) {
	if err := r.check(); err != nil {
		return StackingRules{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return StackingRules{}, err
	}
	err = s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		row := stackingRow{TenantID: tenantID, Rules: b, UpdatedAt: s.now().UTC().Truncate(time.Microsecond)}
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT (tenant_id) DO UPDATE").
			Set("rules = EXCLUDED.rules").Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
			return fmt.Errorf("store stacking rules: %w", err)
		}
		_, err := s.audit.Record(ctx, tx, tenantID, audit.Entry{Action: "stacking_rules.updated", ResourceType: "stacking_rules", ResourceID: tenantID, After: r})
		return err
	})
	s.cache.Delete(tenantID)
	return r, err
}
