package redemption

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// In DISCOUNTED mode a redeemable's rules are judged on the order the discounts
// before it leave, as Voucherify does: 10% off an order of 105.00 leaves 94.50,
// below the 100.00 a 20% coupon requires. Applied the other way round, both
// apply; in INITIAL mode both apply either way.
func TestDiscountedOrderMeetsTheRules(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		_, ten := env.coupon(t, `"voucher":{"discount":{"type":"PERCENT","percent_off":10}}`)
		_, twenty := env.coupon(t, `"voucher":{"discount":{"type":"PERCENT","percent_off":20}},"rules":{"min_order_amount":10000}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := Tenant{ID: env.tenantID, Slug: "t", Currency: "EUR", Timezone: "Europe/Berlin"}
		validate := func(codes ...string) Result {
			t.Helper()
			req := Request{Order: &Order{Amount: 10500}}
			for _, c := range codes {
				req.Redeemables = append(req.Redeemables, RedeemableRef{Object: ObjectVoucher, ID: c})
			}
			res, err := e.Validate(ctx, tn, req)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		statuses := func(res Result) (s []string) {
			for _, o := range res.Outcomes {
				st := o.Status
				if o.Reason != nil {
					st += " " + o.Reason.Code + " " + o.Reason.Rule
				}
				s = append(s, st)
			}
			return s
		}

		// PARTIAL, so that the first coupon still applies alone.
		rules := DefaultStackingRules()
		rules.RedeemablesApplicationMode = "PARTIAL"
		if _, err := e.settings.SetStackingRules(ctx, env.tenantID, rules); err != nil {
			t.Fatal(err)
		}
		res := validate(ten.Code, twenty.Code)
		if got := statuses(res); got[0] != StatusApplicable || got[1] != StatusInapplicable+" order_rules_violated rules.min_order_amount" {
			t.Fatalf("10%% then 20%% over 100.00: %v", got)
		}
		if res.Totals.TotalDiscountAmount != 1050 || res.Totals.TotalAmount != 9450 {
			t.Fatalf("10%% alone: totals %+v", res.Totals)
		}
		res = validate(twenty.Code, ten.Code)
		if got := statuses(res); got[0] != StatusApplicable || got[1] != StatusApplicable || res.Totals.TotalAmount != 7560 {
			t.Fatalf("20%% then 10%%: %v, totals %+v", got, res.Totals)
		}

		// ALL (the default): the coupon that no longer applies fails the request.
		rules.RedeemablesApplicationMode = "ALL"
		if _, err := e.settings.SetStackingRules(ctx, env.tenantID, rules); err != nil {
			t.Fatal(err)
		}
		if res := validate(ten.Code, twenty.Code); res.Valid || res.Totals.TotalDiscountAmount != 0 {
			t.Fatalf("ALL: valid %v, %v, totals %+v", res.Valid, statuses(res), res.Totals)
		}

		rules.DiscountCalculationMode = CalcInitial
		if _, err := e.settings.SetStackingRules(ctx, env.tenantID, rules); err != nil {
			t.Fatal(err)
		}
		if res := validate(ten.Code, twenty.Code); !res.Valid || res.Totals.TotalDiscountAmount != 1050+2100 {
			t.Fatalf("INITIAL: valid %v, %v, totals %+v", res.Valid, statuses(res), res.Totals)
		}
	})
}

// A refused redemption is named by the redeemable that does not apply, not by
// one skipped because of it.
func TestRefusalNamesTheInapplicableRedeemable(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		_, fine := env.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":100}}`)
		_, large := env.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":100}},"rules":{"min_order_amount":100000}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := Tenant{ID: env.tenantID, Slug: "t", Currency: "EUR", Timezone: "Europe/Berlin"}
		_, err := e.Redeem(context.Background(), tn, Request{Order: &Order{Amount: 10500}, Redeemables: []RedeemableRef{
			{Object: ObjectVoucher, ID: fine.Code}, {Object: ObjectVoucher, ID: large.Code}}}, nil)
		p, ok := problem.As(err)
		if !ok || p.Key != "order_rules_violated" || p.Transient || !strings.Contains(p.Details, fine.Code+": preceding_validation_failed") {
			t.Fatalf("refusal %#v; want order_rules_violated naming the skipped coupon too", err)
		}
		if n := countRedemptions(t, env); n != 0 {
			t.Fatalf("a refused redemption wrote %d rows", n)
		}
	})
}

func countRedemptions(t *testing.T, env *guardEnv) (n int) {
	t.Helper()
	err := env.db.Read(context.Background(), env.tenantID, func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM redemptions WHERE tenant_id = ?", env.tenantID).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Gift cards pay for what the discounts leave: named before a coupon, a card
// still comes after it, so the coupon's 20% is of the whole order and its
// minimum is judged on the order, not on what the card left to pay.
func TestGiftCardsPayLast(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		_, gift := env.campaignOf(t, "GIFT_VOUCHERS", `"voucher":{"gift":{"amount":5000}}`)
		_, coupon := env.coupon(t, `"voucher":{"discount":{"type":"PERCENT","percent_off":20}},"rules":{"min_order_amount":10000}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := Tenant{ID: env.tenantID, Slug: "t", Currency: "EUR", Timezone: "Europe/Berlin"}
		r, err := e.Redeem(context.Background(), tn, Request{Order: &Order{Amount: 10000}, Redeemables: []RedeemableRef{
			{Object: ObjectVoucher, ID: gift.Code}, {Object: ObjectVoucher, ID: coupon.Code}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Applied{}
		for _, o := range r.Result.Outcomes {
			got[o.Ref.ID] = o.Applied
		}
		if got[coupon.Code].OrderDiscount != 2000 || got[gift.Code].GiftCredits != 5000 || r.Result.Totals.TotalAmount != 3000 {
			t.Fatalf("coupon %+v, gift card %+v, totals %+v; want 20.00 off, then 50.00 paid by the card", got[coupon.Code], got[gift.Code], r.Result.Totals)
		}
	})
}
