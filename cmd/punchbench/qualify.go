package main

import (
	"context"
	"fmt"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
)

// The qualify scenario's tenant: walletCustomers customers, each holding
// walletVouchers vouchers of two campaigns, and a promotion of promotionTiers
// tiers open to everyone, so that each qualification weighs
// walletVouchers + promotionTiers candidates.
const (
	walletCustomers = 200
	walletVouchers  = 10
	promotionTiers  = 5
)

func walletCustomer(n int) string { return fmt.Sprintf("wallet-customer-%03d", n%walletCustomers) }

// qualificationBody asks which redeemables fit customer n's cart, at
// Voucherify's default page of 5 sorted newest first.
func qualificationBody(n int) string {
	return `{"customer":{"source_id":"` + walletCustomer(n) + `"},"scenario":"ALL",` +
		`"order":{"items":[{"product_id":"shoes","quantity":1,"price":8000},{"product_id":"socks","quantity":2,"price":1000}]}}`
}

func qualifyWorkload(ctx context.Context, e *env, db string) (workload, error) {
	p, err := startPunchcard(ctx, db, e.client)
	if err != nil {
		return workload{}, err
	}
	if err := seedWallets(ctx, p); err != nil {
		p.stop()
		return workload{}, err
	}
	return p.posts("/v1/qualifications", qualificationBody), nil
}

// seedWallets makes the qualify scenario's tenant through the services, as
// campaignCodes does: 2,000 publications over HTTP would dominate the run.
func seedWallets(ctx context.Context, p *punchcard) error {
	half := walletVouchers / 2
	var camps []string
	for i, off := range []int64{500, 1000} {
		c, err := p.app.Campaigns.Create(ctx, p.tenantID, campaigns.CampaignInput{
			Name: fmt.Sprintf("wallet-%d", i), CampaignType: campaigns.TypeDiscountCoupons, VouchersCount: int64(walletCustomers * half),
			Voucher: &campaigns.VoucherTemplate{Discount: &campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: ptr(off)}},
		})
		if err != nil {
			return err
		}
		camps = append(camps, c.ID)
	}
	for n := range walletCustomers {
		c, _, err := p.app.Customers.Upsert(ctx, p.tenantID, customers.Input{SourceID: customers.Some(walletCustomer(n))})
		if err != nil {
			return err
		}
		for i := range walletVouchers {
			if _, err := p.app.Campaigns.Publish(ctx, p.tenantID, c.ID, "", camps[i%2]); err != nil {
				return err
			}
		}
	}
	tiers := make([]any, promotionTiers)
	for i := range tiers {
		tiers[i] = map[string]any{"name": fmt.Sprintf("Tier %d", i+1), "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": i + 1}}}
	}
	if err := p.call(ctx, "POST", "/v1/campaigns", "Bearer "+p.secret, map[string]any{"name": "Everyone", "campaign_type": "PROMOTION",
		"promotion": map[string]any{"tiers": tiers}}, nil); err != nil {
		return err
	}
	return p.settle(ctx)
}
