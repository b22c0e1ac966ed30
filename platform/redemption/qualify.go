package redemption

import (
	"context"
	"fmt"
	"slices"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// Qualification scenarios: where to look for redeemables.
const (
	ScenarioAll            = "ALL"             // the customer's vouchers and every live promotion tier
	ScenarioCustomerWallet = "CUSTOMER_WALLET" // the customer's vouchers only
	ScenarioAudienceOnly   = "AUDIENCE_ONLY"   // promotion tiers only
)

// Qualification limits.
const (
	MaxQualifyCandidates = 200
	DefaultQualifyLimit  = 5
	MaxQualifyLimit      = 50
)

// QualifyRequest is the body of POST /v1/qualifications.
type QualifyRequest struct {
	Customer *CustomerRef   `json:"customer,omitempty"`
	Order    *Order         `json:"order,omitempty"`
	Scenario string         `json:"scenario,omitempty" jsonschema:"enum=ALL,enum=CUSTOMER_WALLET,enum=AUDIENCE_ONLY"`
	Options  *QualifyOption `json:"options,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// QualifyOption are Voucherify's qualification options Punchcard honours.
type QualifyOption struct {
	Limit int `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50"`
}

// Qualify finds the redeemables that would apply to the order, each judged alone
// by the eligibility policy and priced alone, the best discount first, and says
// whether more qualified than the limit returned.
func (e *Engine) Qualify(ctx context.Context, t Tenant, q QualifyRequest) (Result, bool, error) {
	ctx, span := e.tracer.Start(ctx, "redemption.Qualify", trace.WithAttributes(telemetry.TenantAttr(t.ID)))
	defer span.End()
	switch q.Scenario {
	case "":
		q.Scenario = ScenarioAll
	case ScenarioAll, ScenarioCustomerWallet, ScenarioAudienceOnly:
	default:
		return Result{}, false, problem.Invalid("scenario", "scenario must be ALL, CUSTOMER_WALLET or AUDIENCE_ONLY")
	}
	limit := DefaultQualifyLimit
	if q.Options != nil && q.Options.Limit != 0 {
		if q.Options.Limit < 1 || q.Options.Limit > MaxQualifyLimit {
			return Result{}, false, problem.Invalidf("options.limit", "options.limit must be between 1 and %d", MaxQualifyLimit)
		}
		limit = q.Options.Limit
	}
	if q.Order == nil {
		q.Order = &Order{}
	}
	if err := q.Order.Normalize(t.Currency); err != nil {
		return Result{}, false, err
	}
	if c := q.Customer; c != nil {
		if c.ID == "" && c.SourceID == "" {
			q.Customer = nil
		} else if err := c.check(e.now()); err != nil {
			return Result{}, false, err
		}
	}
	now, local, err := e.clock(t)
	if err != nil {
		return Result{}, false, err
	}
	refs, err := e.candidates(ctx, t, q)
	if err != nil {
		return Result{}, false, err
	}
	snap, err := e.read(ctx, t, nil, refs, q.Customer, local, now)
	if err != nil {
		return Result{}, false, err
	}
	res := Result{Stacking: snap.stacking, Customer: snap.customer, Channel: channelOf(q.Metadata), Local: local, Order: *q.Order,
		Totals: NewCalculation(q.Order, snap.stacking.DiscountCalculationMode, false).Totals()}
	in, err := e.document(ctx, t, nil, now, local, res.Channel, snap.customer, q.Order)
	if err != nil {
		return Result{}, false, err
	}
	for _, ref := range refs {
		o, found := snap.outcome(ref)
		if !found {
			continue
		}
		own := map[string]any{"redeemable": redeemableDoc(&o, snap, res.Customer, local)}
		if d, _ := e.policies.EvaluateDocument(ctx, t.ID, policies.Eligibility, in, own); !d.Allowed() {
			continue
		}
		// Priced alone, on the order as it is.
		o.Status = StatusApplicable
		o.Applied = e.apply(NewCalculation(q.Order, snap.stacking.DiscountCalculationMode, false), &o)
		res.Outcomes = append(res.Outcomes, o)
	}
	slices.SortStableFunc(res.Outcomes, func(a, b Outcome) int { return int(b.Applied.Total() - a.Applied.Total()) })
	more := len(res.Outcomes) > limit
	res.Outcomes = res.Outcomes[:min(len(res.Outcomes), limit)]
	res.Valid = len(res.Outcomes) > 0
	return res, more, nil
}

// candidates lists the redeemables a qualification considers: the customer's
// active vouchers and the active tiers of active promotions.
func (e *Engine) candidates(ctx context.Context, t Tenant, q QualifyRequest) ([]RedeemableRef, error) {
	var refs []RedeemableRef
	err := e.db.Read(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
		if q.Scenario != ScenarioAudienceOnly && q.Customer != nil {
			c, err := customers.Find(ctx, tx, t.ID, q.Customer.ID, q.Customer.SourceID)
			if err != nil {
				return err
			}
			if c != nil {
				var vs []campaigns.Voucher
				if err := tx.NewSelect().Model(&vs).Where("v.tenant_id = ? AND v.holder_id = ? AND v.active", t.ID, c.ID).
					OrderExpr("v.id DESC").Limit(MaxQualifyCandidates / 2).Scan(ctx); err != nil {
					return fmt.Errorf("load the customer's vouchers: %w", err)
				}
				for _, v := range vs {
					refs = append(refs, RedeemableRef{Object: ObjectVoucher, ID: v.Code})
				}
			}
		}
		if q.Scenario != ScenarioCustomerWallet {
			var ts []campaigns.Tier
			if err := tx.NewSelect().Model(&ts).
				Join("JOIN campaigns AS cp ON cp.tenant_id = pt.tenant_id AND cp.id = pt.campaign_id").
				Where("pt.tenant_id = ? AND pt.active AND cp.active", t.ID).
				OrderExpr("pt.hierarchy, pt.id").Limit(MaxQualifyCandidates / 2).Scan(ctx); err != nil {
				return fmt.Errorf("load promotion tiers: %w", err)
			}
			for _, tr := range ts {
				refs = append(refs, RedeemableRef{Object: ObjectPromotionTier, ID: tr.ID})
			}
		}
		return nil
	})
	return refs, err
}
