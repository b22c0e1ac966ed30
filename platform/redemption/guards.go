package redemption

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// claim is one redeemable's share of a redemption: what its voucher, its campaign
// and the usage counters must absorb. Every guard is a conditional update in the
// redemption's transaction, never read-check-write, so concurrent redemptions can
// neither overshoot a limit nor lose an update.
type claim struct {
	VoucherID   string
	Code        string
	CampaignID  string // "" for a standalone voucher
	Limits      campaigns.Limits
	Discount    int64 // what it took off the order, minor units
	GiftCredits int64 // what it paid from a gift card's balance
	OrderAmount int64 // the order amount counted against limits.total_order_amount
}

// counters names the usage rows a claim moves: only those its campaign limits, so
// a campaign without per-customer or per-period limits costs no extra writes. A
// limit set later counts redemptions from then on.
func (c claim) counters(customerID, localDate string) []counter {
	var out []counter
	add := func(limit *int64, customer, period string) {
		if limit != nil {
			out = append(out, counter{customer: customer, period: period, limit: *limit})
		}
	}
	month := localDate[:7]
	if customerID != "" {
		add(c.Limits.PerCustomer, customerID, "")
		add(c.Limits.PerCustomerPerDay, customerID, localDate)
		add(c.Limits.PerCustomerPerMonth, customerID, month)
	}
	add(c.Limits.PerDay, "", localDate)
	add(c.Limits.PerMonth, "", month)
	return out
}

type counter struct {
	customer, period string
	limit            int64
}

// limitKey is the error key of an exhausted limit, as API.md names it.
const (
	keyLimitExceeded    = "limit_exceeded"
	keyQuantityExceeded = "quantity_exceeded"
	keyVoucherDisabled  = "voucher_disabled"
	keyCampaignDisabled = "campaign_disabled"
	keyGiftExceeded     = "gift_amount_exceeded"
	keyNotFound         = "resource_not_found"
)

// refusal is a guard that did not hold: which redeemable and why.
type refusal struct {
	Code    string // the voucher code
	Key     string
	Message string
	Rule    string
}

func (r *refusal) Error() string { return r.Code + ": " + r.Key + ": " + r.Message }

// The guards, prepared: every redemption and rollback runs them.
var (
	redeemVoucher = db.NewRawStatement("UPDATE", "vouchers", `UPDATE vouchers
		SET redeemed_quantity = redeemed_quantity + 1, gift_balance = gift_balance - ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND active
		  AND (redemption_quantity IS NULL OR redeemed_quantity < redemption_quantity)
		  AND gift_balance >= ?`)
	redeemCampaign = db.NewRawStatement("UPDATE", "campaigns", `UPDATE campaigns
		SET redemptions_count = redemptions_count + 1, discount_total = discount_total + ?, order_total = order_total + ?
		WHERE tenant_id = ? AND id = ? AND active
		  AND (? OR redemptions_count < ?)
		  AND (? OR discount_total + ? <= ?)
		  AND (? OR order_total + ? <= ?)`)
	countUsage = db.NewRawStatement("INSERT", "redemption_usage", `INSERT INTO redemption_usage (tenant_id, campaign_id, customer_id, period, count)
		VALUES (?, ?, ?, ?, 1)
		ON CONFLICT (tenant_id, campaign_id, customer_id, period)
		DO UPDATE SET count = redemption_usage.count + 1 WHERE redemption_usage.count < ?`)
	returnVoucher = db.NewRawStatement("UPDATE", "vouchers", `UPDATE vouchers
		SET redeemed_quantity = redeemed_quantity - 1, gift_balance = gift_balance + ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND redeemed_quantity >= 1 AND gift_balance + ? <= gift_amount`)
	returnCampaign = db.NewRawStatement("UPDATE", "campaigns", `UPDATE campaigns
		SET redemptions_count = redemptions_count - 1, discount_total = discount_total - ?, order_total = order_total - ?
		WHERE tenant_id = ? AND id = ? AND redemptions_count >= 1 AND discount_total >= ? AND order_total >= ?`)
	returnUsage = db.NewRawStatement("UPDATE", "redemption_usage", `UPDATE redemption_usage SET count = count - 1
		WHERE tenant_id = ? AND campaign_id = ? AND customer_id = ? AND period = ? AND count >= 1`)
)

// applyClaims runs every guard of every claim in tx. The first guard that does not
// hold returns a *refusal, and the caller rolls the transaction back.
func applyClaims(ctx context.Context, tx bun.IDB, tenantID, customerID, localDate string, claims []claim, now time.Time) error {
	for _, c := range claims {
		if c.VoucherID == "" { // a promotion tier: only its campaign's guards
			if err := campaignGuards(ctx, tx, tenantID, customerID, localDate, c); err != nil {
				return err
			}
			continue
		}
		res, err := redeemVoucher.Exec(ctx, tx, c.GiftCredits, now, tenantID, c.VoucherID, c.GiftCredits)
		if err := oneRow(res, err); err != nil {
			if err == errNoRow {
				return voucherRefusal(ctx, tx, tenantID, c)
			}
			return fmt.Errorf("redeem voucher %s: %w", c.Code, err)
		}
		if err := campaignGuards(ctx, tx, tenantID, customerID, localDate, c); err != nil {
			return err
		}
	}
	return nil
}

// campaignGuards are the guards of a claim's campaign: its totals and its usage
// counters.
func campaignGuards(ctx context.Context, tx bun.IDB, tenantID, customerID, localDate string, c claim) error {
	if c.CampaignID == "" {
		return nil
	}
	l := c.Limits
	res, err := redeemCampaign.Exec(ctx, tx,
		c.Discount, c.OrderAmount, tenantID, c.CampaignID,
		l.TotalRedemptions == nil, deref(l.TotalRedemptions),
		l.TotalDiscountAmount == nil, c.Discount, deref(l.TotalDiscountAmount),
		l.TotalOrderAmount == nil, c.OrderAmount, deref(l.TotalOrderAmount))
	if err := oneRow(res, err); err != nil {
		if err == errNoRow {
			return campaignRefusal(ctx, tx, tenantID, c)
		}
		return fmt.Errorf("redeem campaign %s: %w", c.CampaignID, err)
	}
	for _, k := range c.counters(customerID, localDate) {
		res, err := countUsage.Exec(ctx, tx,
			tenantID, c.CampaignID, k.customer, k.period, k.limit)
		if err := oneRow(res, err); err != nil {
			if err == errNoRow {
				return &refusal{Code: c.Code, Key: keyLimitExceeded, Rule: k.rule(),
					Message: fmt.Sprintf("the campaign allows %d redemptions %s", k.limit, k.scope())}
			}
			return fmt.Errorf("count usage of campaign %s: %w", c.CampaignID, err)
		}
	}
	return nil
}

// reverseClaims undoes applyClaims for a rollback, under the same kind of guards:
// a counter never goes below zero and a gift balance never above its amount, so a
// second rollback of the same redemption cannot give back twice.
func reverseClaims(ctx context.Context, tx bun.IDB, tenantID, customerID, localDate string, claims []claim, now time.Time) error {
	for _, c := range claims {
		if c.VoucherID != "" {
			res, err := returnVoucher.Exec(ctx, tx,
				c.GiftCredits, now, tenantID, c.VoucherID, c.GiftCredits)
			if err := oneRow(res, err); err != nil {
				return fmt.Errorf("roll back voucher %s: %w", c.Code, err)
			}
		}
		if c.CampaignID == "" {
			continue
		}
		res, err := returnCampaign.Exec(ctx, tx,
			c.Discount, c.OrderAmount, tenantID, c.CampaignID, c.Discount, c.OrderAmount)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("roll back campaign %s: %w", c.CampaignID, err)
		}
		for _, k := range c.counters(customerID, localDate) {
			// A counter may be missing when its limit was set after the redemption.
			if _, err := returnUsage.Exec(ctx, tx,
				tenantID, c.CampaignID, k.customer, k.period); err != nil {
				return fmt.Errorf("roll back usage of campaign %s: %w", c.CampaignID, err)
			}
		}
	}
	return nil
}

func (k counter) rule() string {
	switch {
	case k.customer != "" && k.period == "":
		return "limits.per_customer"
	case k.customer != "" && len(k.period) == 10:
		return "limits.per_customer_per_day"
	case k.customer != "":
		return "limits.per_customer_per_month"
	case len(k.period) == 10:
		return "limits.per_day"
	default:
		return "limits.per_month"
	}
}

func (k counter) scope() string {
	switch k.rule() {
	case "limits.per_customer":
		return "per customer"
	case "limits.per_customer_per_day":
		return "per customer per day"
	case "limits.per_customer_per_month":
		return "per customer per month"
	case "limits.per_day":
		return "per day"
	default:
		return "per month"
	}
}

// voucherRefusal explains why a voucher's guard did not hold.
func voucherRefusal(ctx context.Context, tx bun.IDB, tenantID string, c claim) error {
	var v campaigns.Voucher
	err := tx.NewSelect().Model(&v).Where("v.tenant_id = ? AND v.id = ?", tenantID, c.VoucherID).Scan(ctx)
	switch {
	case db.IsNotFound(err):
		return &refusal{Code: c.Code, Key: keyNotFound, Message: "the voucher no longer exists"}
	case err != nil:
		return fmt.Errorf("load voucher %s: %w", c.Code, err)
	case !v.Active:
		return &refusal{Code: c.Code, Key: keyVoucherDisabled, Message: "the voucher is disabled", Rule: "voucher.active"}
	case v.RedemptionQuantity != nil && v.RedeemedQuantity >= *v.RedemptionQuantity:
		return &refusal{Code: c.Code, Key: keyQuantityExceeded, Rule: "voucher.redemption.quantity",
			Message: fmt.Sprintf("the voucher may be redeemed %d times and has been", *v.RedemptionQuantity)}
	default:
		return &refusal{Code: c.Code, Key: keyGiftExceeded, Rule: "voucher.gift.balance",
			Message: fmt.Sprintf("the gift card's balance is %d, less than the %d requested", v.GiftBalance, c.GiftCredits)}
	}
}

// campaignRefusal explains why a campaign's guard did not hold.
func campaignRefusal(ctx context.Context, tx bun.IDB, tenantID string, c claim) error {
	var cp campaigns.Campaign
	err := tx.NewSelect().Model(&cp).Where("cp.tenant_id = ? AND cp.id = ?", tenantID, c.CampaignID).Scan(ctx)
	switch {
	case db.IsNotFound(err):
		return &refusal{Code: c.Code, Key: keyNotFound, Message: "the campaign no longer exists"}
	case err != nil:
		return fmt.Errorf("load campaign %s: %w", c.CampaignID, err)
	case !cp.Active:
		return &refusal{Code: c.Code, Key: keyCampaignDisabled, Message: "the campaign is disabled", Rule: "campaign.active"}
	case c.Limits.TotalRedemptions != nil && cp.Redemptions >= *c.Limits.TotalRedemptions:
		return &refusal{Code: c.Code, Key: keyLimitExceeded, Rule: "limits.total_redemptions",
			Message: fmt.Sprintf("the campaign allows %d redemptions in all and has had them", *c.Limits.TotalRedemptions)}
	case c.Limits.TotalDiscountAmount != nil && cp.DiscountTotal+c.Discount > *c.Limits.TotalDiscountAmount:
		return &refusal{Code: c.Code, Key: keyLimitExceeded, Rule: "limits.total_discount_amount",
			Message: fmt.Sprintf("the campaign's discount budget of %d has %d left, less than this discount of %d",
				*c.Limits.TotalDiscountAmount, *c.Limits.TotalDiscountAmount-cp.DiscountTotal, c.Discount)}
	default:
		return &refusal{Code: c.Code, Key: keyLimitExceeded, Rule: "limits.total_order_amount",
			Message: "the campaign's total order amount is reached"}
	}
}

var errNoRow = fmt.Errorf("no row changed")

func oneRow(res interface{ RowsAffected() (int64, error) }, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoRow
	}
	return nil
}

func deref(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

func reasonOf(r *refusal) *policies.Reason {
	return &policies.Reason{Code: r.Key, Message: r.Message, Rule: r.Rule}
}
