package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// TypePromotion is the campaign type of code-less promotions.
const TypePromotion = "PROMOTION"

// ResourceTier names promotion tiers in the audit log.
const ResourceTier = "promotion_tier"

// MaxTiers bounds the tiers of one promotion.
const MaxTiers = 100

const idTier = "promo"

// Tier is one level of a PROMOTION campaign: a discount that applies without a
// code when its rules hold: its campaign's, each overridden by the tier's own
// where the tier sets it (rules field by field, dates, days and hours), and its
// campaign's limits. Hierarchy orders the tiers of a campaign (1 first): the
// order in which several of them apply.
type Tier struct {
	bun.BaseModel `bun:"table:promotion_tiers,alias:pt"`

	TenantID          string         `bun:"tenant_id,pk"`
	ID                string         `bun:"id,pk"`
	CampaignID        string         `bun:"campaign_id"`
	Name              string         `bun:"name"`
	Banner            string         `bun:"banner,nullzero"`
	Discount          Discount       `bun:"discount,type:jsonb"`
	Metadata          map[string]any `bun:"metadata,type:jsonb,nullzero,json_use_number"`
	Hierarchy         int            `bun:"hierarchy"`
	Active            bool           `bun:"active"`
	Category          string         `bun:"category,nullzero"`
	StartDate         *time.Time     `bun:"start_date"`
	ExpirationDate    *time.Time     `bun:"expiration_date"`
	ValidityDayOfWeek []int          `bun:"validity_day_of_week,type:jsonb,nullzero"`
	ValidityHours     *ValidityHours `bun:"validity_hours,type:jsonb,nullzero"`
	Rules             Rules          `bun:"rules,type:jsonb"`
	CreatedAt         time.Time      `bun:"created_at"`
	UpdatedAt         time.Time      `bun:"updated_at"`
}

// PromotionInput is the promotion object of a PROMOTION campaign.
type PromotionInput struct {
	Tiers []TierInput `json:"tiers"`
}

// TierInput is one tier of a PROMOTION campaign, Voucherify's shape with
// Punchcard's rules.
type TierInput struct {
	Name              string         `json:"name"`
	Banner            string         `json:"banner,omitempty"`
	Action            TierAction     `json:"action"`
	Metadata          map[string]any `json:"metadata,omitempty"`
	Active            *bool          `json:"active,omitempty"`
	Hierarchy         int            `json:"hierarchy,omitempty"`
	StartDate         *time.Time     `json:"start_date,omitempty"`
	ExpirationDate    *time.Time     `json:"expiration_date,omitempty"`
	ValidityDayOfWeek []int          `json:"validity_day_of_week,omitempty"`
	ValidityHours     *ValidityHours `json:"validity_hours,omitempty"`
	Category          string         `json:"category,omitempty"`
	Rules             *Rules         `json:"rules,omitempty"`
	// ValidityTimeframe is refused, as a campaign's is.
	ValidityTimeframe json.RawMessage `json:"validity_timeframe,omitempty" jsonschema:"-"`
}

// TierAction is what a tier does: its discount.
type TierAction struct {
	Discount *Discount `json:"discount"`
}

// tiers checks a promotion's tiers field by field.
func (p *PromotionInput) tiers() ([]Tier, error) {
	if p == nil || len(p.Tiers) == 0 {
		return nil, problem.Invalid("promotion.tiers", "a PROMOTION campaign needs promotion.tiers with at least one tier")
	}
	if len(p.Tiers) > MaxTiers {
		return nil, problem.Invalidf("promotion.tiers", "promotion.tiers may hold at most %d tiers", MaxTiers)
	}
	out := make([]Tier, len(p.Tiers))
	for i, in := range p.Tiers {
		f := fmt.Sprintf("promotion.tiers[%d]", i)
		if err := refuseUnsupported(f+".", notSupported{"validity_timeframe", in.ValidityTimeframe,
			"use validity_day_of_week and validity_hours (windows in the tenant's time zone)"}); err != nil {
			return nil, err
		}
		t := Tier{Name: strings.TrimSpace(in.Name), Banner: in.Banner, Metadata: in.Metadata, Hierarchy: in.Hierarchy, Active: true,
			Category: strings.TrimSpace(in.Category), StartDate: utc(in.StartDate), ExpirationDate: utc(in.ExpirationDate),
			ValidityDayOfWeek: in.ValidityDayOfWeek, ValidityHours: in.ValidityHours}
		switch {
		case t.Name == "":
			return nil, problem.Invalidf(f+".name", "%s.name is required", f)
		case utf8.RuneCountInString(t.Name) > MaxName || utf8.RuneCountInString(t.Banner) > MaxDescription:
			return nil, problem.Invalidf(f+".name", "%s.name or banner is too long", f)
		case in.Action.Discount == nil:
			return nil, problem.Invalidf(f+".action.discount", "%s.action.discount is required", f)
		case t.Hierarchy < 0:
			return nil, problem.Invalidf(f+".hierarchy", "%s.hierarchy must not be negative", f)
		}
		if t.Hierarchy == 0 {
			t.Hierarchy = i + 1
		}
		if in.Active != nil {
			t.Active = *in.Active
		}
		t.Discount = *in.Action.Discount
		if err := t.Discount.normalize(f + ".action.discount"); err != nil {
			return nil, err
		}
		if t.StartDate != nil && t.ExpirationDate != nil && !t.ExpirationDate.After(*t.StartDate) {
			return nil, problem.Invalidf(f+".expiration_date", "%s.expiration_date must be after start_date", f)
		}
		if err := checkSchedule(f+".", t.ValidityDayOfWeek, t.ValidityHours); err != nil {
			return nil, err
		}
		if in.Rules != nil {
			t.Rules = *in.Rules
		}
		if err := t.Rules.check(); err != nil {
			return nil, err
		}
		if err := metadata.Check(f+".metadata", t.Metadata); err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// insertTiers stores a new promotion's tiers.
func insertTiers(ctx context.Context, tx bun.IDB, c *Campaign, tiers []Tier, now time.Time) error {
	for i := range tiers {
		tiers[i].TenantID, tiers[i].ID, tiers[i].CampaignID = c.TenantID, ids.New(idTier), c.ID
		tiers[i].CreatedAt, tiers[i].UpdatedAt = now, now
	}
	if _, err := tx.NewInsert().Model(&tiers).Exec(ctx); err != nil {
		return fmt.Errorf("insert promotion tiers: %w", err)
	}
	return nil
}

// Tier returns one promotion tier.
func (s *Service) Tier(ctx context.Context, tenantID, id string) (Tier, error) {
	var t Tier
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		t, err = findTier(ctx, tx, tenantID, id)
		return err
	})
	return t, err
}

// Tiers returns the tiers of a promotion campaign in hierarchy order.
func (s *Service) Tiers(ctx context.Context, tenantID, campaign string) ([]Tier, error) {
	var ts []Tier
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		c, err := findCampaign(ctx, tx, tenantID, campaign)
		if err != nil {
			return err
		}
		return tx.NewSelect().Model(&ts).Where("pt.tenant_id = ? AND pt.campaign_id = ?", tenantID, c.ID).OrderExpr("pt.hierarchy, pt.id").Scan(ctx)
	})
	return ts, err
}

// SetTierActive enables or disables one tier.
func (s *Service) SetTierActive(ctx context.Context, tenantID, id string, active bool) (Tier, error) {
	return toggle(ctx, s, tenantID, ResourceTier, active,
		func(ctx context.Context, tx bun.IDB) (Tier, error) { return findTier(ctx, tx, tenantID, id) },
		func(t *Tier) (*bool, *time.Time, string) { return &t.Active, &t.UpdatedAt, t.ID })
}

func findTier(ctx context.Context, tx bun.IDB, tenantID, id string) (Tier, error) {
	var t Tier
	err := tx.NewSelect().Model(&t).Where("pt.tenant_id = ? AND pt.id = ?", tenantID, id).Scan(ctx)
	if db.IsNotFound(err) {
		return Tier{}, problem.NotFound(ResourceTier, id)
	}
	if err != nil {
		return Tier{}, fmt.Errorf("load promotion tier: %w", err)
	}
	return t, nil
}
