package redemption

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// The guards, prepared: every redemption and rollback runs them. A redemption's
// guards take what its claims ask of one row at once (the redemptions and amounts
// of every claim on one campaign, say), so that each row is changed once.
var (
	redeemVoucher = db.NewRawStatement("UPDATE", "vouchers", `UPDATE vouchers
		SET redeemed_quantity = redeemed_quantity + 1, gift_balance = gift_balance - ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND active
		  AND (redemption_quantity IS NULL OR redeemed_quantity < redemption_quantity)
		  AND gift_balance >= ?`)
	redeemCampaign = db.NewRawStatement("UPDATE", "campaigns", `UPDATE campaigns
		SET redemptions_count = redemptions_count + ?, discount_total = discount_total + ?, order_total = order_total + ?
		WHERE tenant_id = ? AND id = ? AND active
		  AND (? OR redemptions_count + ? <= ?)
		  AND (? OR discount_total + ? <= ?)
		  AND (? OR order_total + ? <= ?)`)
	countUsage = db.NewRawStatement("INSERT", "redemption_usage", `INSERT INTO redemption_usage (tenant_id, campaign_id, customer_id, period, count)
		SELECT ?, ?, ?, ?, CAST(? AS BIGINT) WHERE CAST(? AS BIGINT) <= CAST(? AS BIGINT)
		ON CONFLICT (tenant_id, campaign_id, customer_id, period)
		DO UPDATE SET count = redemption_usage.count + excluded.count WHERE redemption_usage.count + excluded.count <= ?`)
	returnVoucher = db.NewRawStatement("UPDATE", "vouchers", `UPDATE vouchers
		SET redeemed_quantity = redeemed_quantity - 1, gift_balance = gift_balance + ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND redeemed_quantity >= 1 AND gift_balance + ? <= gift_amount`)
	returnCampaign = db.NewRawStatement("UPDATE", "campaigns", `UPDATE campaigns
		SET redemptions_count = redemptions_count - ?, discount_total = discount_total - ?, order_total = order_total - ?
		WHERE tenant_id = ? AND id = ? AND redemptions_count >= ? AND discount_total >= ? AND order_total >= ?`)
	returnUsage = db.NewRawStatement("UPDATE", "redemption_usage", `UPDATE redemption_usage SET count = count - ?
		WHERE tenant_id = ? AND campaign_id = ? AND customer_id = ? AND period = ? AND count >= ?`)
)

// refuser explains a guard that did not hold, as a *refusal (or the error of
// finding out why).
type refuser func(ctx context.Context, tx bun.IDB) error

// rows is what claims ask of each row, in the one order every redemption and
// rollback locks them (vouchers by id, then campaigns by id, then usage
// counters), so that two of them touching the same rows cannot deadlock.
type rows struct {
	vouchers []claim
	camps    []claim // one per campaign: its claims summed, Code the last one's
	count    map[string]int64
	usage    []usage
}

type usage struct {
	c claim
	k counter
}

func rowsOf(claims []claim, customerID, localDate string) rows {
	r := rows{count: map[string]int64{}}
	at := map[string]int{} // campaign → index in r.camps
	for _, c := range claims {
		if c.VoucherID != "" {
			r.vouchers = append(r.vouchers, c)
		}
		if c.CampaignID == "" {
			continue
		}
		r.count[c.CampaignID]++
		if i, ok := at[c.CampaignID]; ok {
			sum := &r.camps[i]
			// The claim that takes the campaign past a limit is the last of them.
			sum.Code = c.Code
			sum.Discount += c.Discount
			sum.GiftCredits += c.GiftCredits
			// Every claim carries the whole order: the order counts once per campaign.
			sum.OrderAmount = max(sum.OrderAmount, c.OrderAmount)
			continue
		}
		at[c.CampaignID] = len(r.camps)
		r.camps = append(r.camps, c)
	}
	slices.SortFunc(r.vouchers, func(a, b claim) int { return strings.Compare(a.VoucherID, b.VoucherID) })
	slices.SortFunc(r.camps, func(a, b claim) int { return strings.Compare(a.CampaignID, b.CampaignID) })
	for _, c := range r.camps {
		for _, k := range c.counters(customerID, localDate) {
			r.usage = append(r.usage, usage{c, k})
		}
	}
	return r
}

// addGuards puts the guards of claims into b and returns, guard by guard, what
// explains each one that does not hold.
func addGuards(b *db.Batch, tenantID, customerID, localDate string, claims []claim, now time.Time) []refuser {
	var why []refuser
	r := rowsOf(claims, customerID, localDate)
	for _, c := range r.vouchers {
		b.Guard(redeemVoucher, c.GiftCredits, now, tenantID, c.VoucherID, c.GiftCredits)
		why = append(why, func(ctx context.Context, tx bun.IDB) error { return voucherRefusal(ctx, tx, tenantID, c) })
	}
	for _, c := range r.camps {
		n, l := r.count[c.CampaignID], c.Limits
		b.Guard(redeemCampaign, n, c.Discount, c.OrderAmount, tenantID, c.CampaignID,
			l.TotalRedemptions == nil, n, deref(l.TotalRedemptions),
			l.TotalDiscountAmount == nil, c.Discount, deref(l.TotalDiscountAmount),
			l.TotalOrderAmount == nil, c.OrderAmount, deref(l.TotalOrderAmount))
		why = append(why, func(ctx context.Context, tx bun.IDB) error { return campaignRefusal(ctx, tx, tenantID, c, n) })
	}
	for _, u := range r.usage {
		n := r.count[u.c.CampaignID]
		b.Guard(countUsage, tenantID, u.c.CampaignID, u.k.customer, u.k.period, n, n, u.k.limit, u.k.limit)
		why = append(why, func(context.Context, bun.IDB) error {
			return &refusal{Code: u.c.Code, Key: keyLimitExceeded, Rule: u.k.rule(),
				Message: fmt.Sprintf("the campaign allows %d redemptions %s", u.k.limit, u.k.scope())}
		})
	}
	return why
}

// addReturns puts into b the mirror guards that undo claims for a rollback: a
// counter never goes below zero and a gift balance never above its amount, so a
// second rollback of the same redemption cannot give back twice. It returns the
// explanations of its guards, as addGuards does.
func addReturns(b *db.Batch, tenantID, customerID, localDate string, claims []claim, now time.Time) []refuser {
	var why []refuser
	r := rowsOf(claims, customerID, localDate)
	for _, c := range r.vouchers {
		b.Guard(returnVoucher, c.GiftCredits, now, tenantID, c.VoucherID, c.GiftCredits)
		why = append(why, func(context.Context, bun.IDB) error { return fmt.Errorf("roll back voucher %s: %w", c.Code, errNoRow) })
	}
	for _, c := range r.camps {
		n := r.count[c.CampaignID]
		b.Guard(returnCampaign, n, c.Discount, c.OrderAmount, tenantID, c.CampaignID, n, c.Discount, c.OrderAmount)
		why = append(why, func(context.Context, bun.IDB) error {
			return fmt.Errorf("roll back campaign %s: %w", c.CampaignID, errNoRow)
		})
	}
	for _, u := range r.usage {
		// A counter may be missing when its limit was set after the redemption.
		n := r.count[u.c.CampaignID]
		b.Update(returnUsage, n, tenantID, u.c.CampaignID, u.k.customer, u.k.period, n)
	}
	return why
}

// write writes b as tx's last work (db.WriteLast). When one of its guards does
// not hold it returns a *guardFailed, which explain turns into that guard's
// refusal once the transaction has rolled back.
func write(ctx context.Context, d *db.DB, tx bun.IDB, b *db.Batch, why []refuser) error {
	i, err := d.WriteLast(ctx, tx, b)
	if err != nil {
		return err
	}
	if i >= 0 {
		return &guardFailed{explain: why[i]}
	}
	return nil
}

// guardFailed is a guard that did not hold, still to be explained.
type guardFailed struct{ explain refuser }

func (g *guardFailed) Error() string { return "a guard did not hold" }

// explain turns a *guardFailed that ended a transaction into the guard's
// refusal, reading why in a transaction of its own (the guarded one can run
// nothing more); any other error it returns as it is. The reasons are read just
// after the refusal, so a concurrent change in between may blur the message,
// never the outcome.
func explain(ctx context.Context, d *db.DB, tenantID string, err error) error {
	var g *guardFailed
	if !errors.As(err, &g) {
		return err
	}
	return d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error { return g.explain(ctx, tx) })
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

// campaignRefusal explains why a campaign's guard did not hold for n claims
// totalling c.
func campaignRefusal(ctx context.Context, tx bun.IDB, tenantID string, c claim, n int64) error {
	var cp campaigns.Campaign
	err := tx.NewSelect().Model(&cp).Where("cp.tenant_id = ? AND cp.id = ?", tenantID, c.CampaignID).Scan(ctx)
	switch {
	case db.IsNotFound(err):
		return &refusal{Code: c.Code, Key: keyNotFound, Message: "the campaign no longer exists"}
	case err != nil:
		return fmt.Errorf("load campaign %s: %w", c.CampaignID, err)
	case !cp.Active:
		return &refusal{Code: c.Code, Key: keyCampaignDisabled, Message: "the campaign is disabled", Rule: "campaign.active"}
	case c.Limits.TotalRedemptions != nil && cp.Redemptions+n > *c.Limits.TotalRedemptions:
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

func deref(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

func reasonOf(r *refusal) *policies.Reason {
	return &policies.Reason{Code: r.Key, Message: r.Message, Rule: r.Rule}
}
