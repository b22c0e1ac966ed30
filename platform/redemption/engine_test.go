package redemption

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// In DISCOUNTED mode a redeemable's rules are judged on the order the discounts
// before it leave, as Voucherify does: 10% off an order of 105.00 leaves 94.50,
// below the 100.00 a 20% coupon requires, so the coupon is skipped and the 10%
// stands. Applied the other way round, both apply; in INITIAL mode both apply
// either way.
func TestDiscountedOrderMeetsTheRules(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		_, ten := env.coupon(t, `"voucher":{"discount":{"type":"PERCENT","percent_off":10}}`)
		_, twenty := env.coupon(t, `"voucher":{"discount":{"type":"PERCENT","percent_off":20}},"rules":{"min_order_amount":10000}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
		validate := func(codes ...string) Result {
			t.Helper()
			res, err := e.Validate(ctx, tn, Request{Order: &Order{Amount: 10500}, Redeemables: vouchersOf(codes...)})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}

		// The default stacking rules: DISCOUNTED, ALL.
		res := validate(ten.Code, twenty.Code)
		if got := statuses(res); !res.Valid || got[0] != StatusApplicable || got[1] != StatusSkipped+" order_rules_violated rules.min_order_amount" {
			t.Fatalf("10%% then 20%% over 100.00: valid %v, %v", res.Valid, got)
		}
		if res.Totals.TotalDiscountAmount != 1050 || res.Totals.TotalAmount != 9450 {
			t.Fatalf("10%% alone: totals %+v", res.Totals)
		}
		res = validate(twenty.Code, ten.Code)
		if got := statuses(res); got[0] != StatusApplicable || got[1] != StatusApplicable || res.Totals.TotalAmount != 7560 {
			t.Fatalf("20%% then 10%%: %v, totals %+v", got, res.Totals)
		}

		rules := DefaultStackingRules()
		rules.DiscountCalculationMode = CalcInitial
		if _, err := e.settings.SetStackingRules(ctx, env.tenantID, rules); err != nil {
			t.Fatal(err)
		}
		if res := validate(ten.Code, twenty.Code); !res.Valid || res.Totals.TotalDiscountAmount != 1050+2100 {
			t.Fatalf("INITIAL: valid %v, %v, totals %+v", res.Valid, statuses(res), res.Totals)
		}
	})
}

func vouchersOf(codes ...string) []RedeemableRef {
	refs := make([]RedeemableRef, len(codes))
	for i, c := range codes {
		refs[i] = RedeemableRef{Object: ObjectVoucher, ID: c}
	}
	return refs
}

// statuses are the outcomes of res as "STATUS code rule".
func statuses(res Result) (s []string) {
	for _, o := range res.Outcomes {
		st := o.Status
		if o.Reason != nil {
			st += " " + o.Reason.Code + " " + o.Reason.Rule
		}
		s = append(s, st)
	}
	return s
}

// A refused redemption is named by the redeemable that does not apply, not by
// one skipped because of it.
func TestRefusalNamesTheInapplicableRedeemable(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		_, fine := env.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":100}}`)
		_, large := env.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":100}},"rules":{"min_order_amount":100000}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
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
// still pays after it, so the coupon's 20% is of the whole order and its
// minimum is judged on the order, not on what the card left to pay. The card
// keeps its turn among the stacked redeemables: with two allowed, the card and
// the first coupon apply and the second coupon is skipped.
func TestGiftCardsPayLast(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		_, gift := env.campaignOf(t, "GIFT_VOUCHERS", `"voucher":{"gift":{"amount":5000}}`)
		_, coupon := env.coupon(t, `"voucher":{"discount":{"type":"PERCENT","percent_off":20}},"rules":{"min_order_amount":10000}`)
		_, another := env.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":500}}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
		r, err := e.Redeem(ctx, tn, Request{Order: &Order{Amount: 10000}, Redeemables: vouchersOf(gift.Code, coupon.Code)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := r.Result.Outcomes
		if got[1].Applied.OrderDiscount != 2000 || got[0].Applied.GiftCredits != 5000 || r.Result.Totals.TotalAmount != 3000 {
			t.Fatalf("card %+v, coupon %+v, totals %+v; want 20.00 off, then 50.00 paid by the card", got[0].Applied, got[1].Applied, r.Result.Totals)
		}
		// The spent card pays for nothing more: it is refused, not redeemed
		// for nothing (which would use up a redemption quantity).
		_, err = e.Redeem(ctx, tn, Request{Order: &Order{Amount: 10000}, Redeemables: vouchersOf(gift.Code)}, nil)
		if p, ok := problem.As(err); !ok || p.Key != "gift_amount_exceeded" {
			t.Fatalf("redeeming the spent card: %v; want refused, gift_amount_exceeded", err)
		}

		rules := DefaultStackingRules()
		rules.ApplicableRedeemablesLimit = 2
		rules.RedeemablesApplicationMode = "PARTIAL"
		if _, err := e.settings.SetStackingRules(ctx, env.tenantID, rules); err != nil {
			t.Fatal(err)
		}
		_, fresh := env.campaignOf(t, "GIFT_VOUCHERS", `"voucher":{"gift":{"amount":5000}}`) // the first card is spent
		res, err := e.Validate(ctx, tn, Request{Order: &Order{Amount: 10000}, Redeemables: vouchersOf(fresh.Code, coupon.Code, another.Code)})
		if err != nil {
			t.Fatal(err)
		}
		if s := statuses(res); s[0] != StatusApplicable || s[1] != StatusApplicable || !strings.HasPrefix(s[2], StatusSkipped) ||
			res.Outcomes[0].Applied.GiftCredits != 5000 || res.Outcomes[1].Applied.OrderDiscount != 2000 {
			t.Fatalf("two allowed of card, coupon, coupon: %v, card %+v, coupon %+v", s, res.Outcomes[0].Applied, res.Outcomes[1].Applied)
		}
	})
}

// Tiers of one promotion apply in its hierarchy's order, in the places the
// request gives its tiers; other redeemables keep theirs.
func TestTiersApplyInHierarchyOrder(t *testing.T) {
	tier := func(campaign string, hierarchy int) Outcome {
		return Outcome{Tier: &campaigns.Tier{CampaignID: campaign, Hierarchy: hierarchy}}
	}
	outcomes := []Outcome{tier("a", 3), {}, tier("b", 2), tier("a", 1), tier("b", 1), tier("a", 2)}
	order := []int{0, 1, 2, 3, 4, 5}
	byHierarchy(order, outcomes)
	if want := []int{3, 1, 4, 5, 2, 0}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

// An exclusive redeemable is the only one redeemed with others that are neither
// exclusive nor joint, wherever the request puts it (Voucherify's
// exclusive_categories); a joint one still joins it.
func TestExclusiveRedeemableGoesFirst(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		_, general := env.coupon(t, `"category":"general","voucher":{"discount":{"type":"AMOUNT","amount_off":100}}`)
		_, flash := env.coupon(t, `"category":"flash","voucher":{"discount":{"type":"AMOUNT","amount_off":500}}`)
		_, member := env.coupon(t, `"category":"member","voucher":{"discount":{"type":"AMOUNT","amount_off":200}}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
		rules := DefaultStackingRules()
		rules.ExclusiveCategories, rules.JointCategories = []string{"flash"}, []string{"member"}
		if _, err := e.settings.SetStackingRules(ctx, env.tenantID, rules); err != nil {
			t.Fatal(err)
		}
		res, err := e.Validate(ctx, tn, Request{Order: &Order{Amount: 10000}, Redeemables: vouchersOf(general.Code, member.Code, flash.Code)})
		if err != nil {
			t.Fatal(err)
		}
		s := statuses(res)
		if s[0] != StatusSkipped+" exclusion_rules_not_met stacking.exclusive_categories" || s[1] != StatusApplicable || s[2] != StatusApplicable ||
			!res.Valid || res.Totals.TotalDiscountAmount != 700 {
			t.Fatalf("general, member (joint), flash (exclusive): valid %v, %v, totals %+v", res.Valid, s, res.Totals)
		}
	})
}

// The application order: the request's; tiers of one promotion by hierarchy;
// exclusive ones first, an exclusive tier before its promotion's other tiers.
func TestApplicationOrder(t *testing.T) {
	applicable := func(o Outcome) Outcome { o.Status = StatusApplicable; return o }
	tier := func(hierarchy int, category string) Outcome {
		return applicable(Outcome{Tier: &campaigns.Tier{CampaignID: "p", Hierarchy: hierarchy, Category: category}})
	}
	voucher := func(category string) Outcome {
		return applicable(Outcome{Voucher: &campaigns.Voucher{Category: category}})
	}
	outcomes := []Outcome{voucher("general"), tier(2, "flash"), {Status: StatusInapplicable}, tier(1, "general"), voucher("member")}
	rules := DefaultStackingRules()
	if got := applicationOrder(outcomes, rules); !slices.Equal(got, []int{0, 3, 1, 4}) {
		t.Fatalf("no exclusive category: %v, want the tiers by hierarchy in their places", got)
	}
	rules.ExclusiveCategories, rules.JointCategories = []string{"flash"}, []string{"member"}
	if got := applicationOrder(outcomes, rules); !slices.Equal(got, []int{1, 0, 3, 4}) {
		t.Fatalf("flash exclusive: %v, want the flash tier first though its hierarchy is 2", got)
	}
}

// A validation refuses what the redemption's guards would: an order that takes
// the campaign past its total order amount, or a discount past its discount
// budget, not only a budget already spent.
func TestValidationFollowsTheBudgets(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		_, budget := env.coupon(t, `"voucher":{"discount":{"type":"PERCENT","percent_off":10}},"limits":{"total_discount_amount":500}`)
		_, orders := env.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":100}},"limits":{"total_order_amount":5000}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
		for _, code := range []string{budget.Code, orders.Code} {
			if _, err := e.Redeem(ctx, tn, Request{Order: &Order{Amount: 3000}, Redeemables: vouchersOf(code)}, nil); err != nil {
				t.Fatalf("first redemption of %s: %v", code, err)
			}
		}
		for _, c := range []struct {
			code   string
			amount int64
			valid  bool
		}{
			{budget.Code, 3000, false}, // 300 more on 300 spent of 500
			{budget.Code, 2000, true},  // 200: the budget exactly
			{orders.Code, 3000, false}, // 3,000 more on 3,000 of 5,000
			{orders.Code, 2000, true},
		} {
			req := Request{Order: &Order{Amount: c.amount}, Redeemables: vouchersOf(c.code)}
			res, err := e.Validate(ctx, tn, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid != c.valid || !c.valid && (res.Outcomes[0].Reason == nil || res.Outcomes[0].Reason.Code != "limit_exceeded") {
				t.Fatalf("%s on %d: valid %v (%+v), want %v", c.code, c.amount, res.Valid, res.Outcomes[0].Reason, c.valid)
			}
			// The redemption agrees with the validation.
			_, err = e.Redeem(ctx, tn, req, nil)
			if p, ok := problem.As(err); c.valid && err != nil || !c.valid && (!ok || p.Key != "limit_exceeded") {
				t.Fatalf("%s on %d: redemption %v, want valid %v", c.code, c.amount, err, c.valid)
			}
		}
	})
}

// A refused redemption counts as a failed validation for the fraud policy, so
// guessing codes at POST /v1/redemptions is counted as at /v1/validations.
func TestRefusedRedemptionsCountAsFailures(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
		guesser := &CustomerRef{SourceID: "guesser-" + ulid.Make().String()}
		for range 3 {
			_, err := e.Redeem(ctx, tn, Request{Order: &Order{Amount: 1000}, Redeemables: vouchersOf("NO-SUCH-CODE"), Customer: guesser}, nil)
			if p, ok := problem.As(err); !ok || p.Kind != problem.KindInvalid {
				t.Fatalf("a guessed code: %v", err)
			}
		}
		key := velocityKey(env.tenantID, &customers.Customer{SourceID: guesser.SourceID})
		if _, failures := e.velocity.counts(key, time.Now()); failures != 3 {
			t.Fatalf("%d failures counted, want 3", failures)
		}
		// Over the threshold (30 by default), the fraud policy refuses the
		// customer; its refusals are not the customer's failures, or retrying
		// would keep them refused for ever.
		for range 30 {
			e.velocity.refused(key, time.Now())
		}
		_, coupon := env.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":100}}`)
		req := Request{Order: &Order{Amount: 1000}, Redeemables: vouchersOf(coupon.Code), Customer: guesser}
		res, err := e.Validate(ctx, tn, req)
		if err != nil || res.Valid || res.Outcomes[0].Reason == nil || res.Outcomes[0].Reason.Code != "too_many_failed_validations" {
			t.Fatalf("over the threshold: %+v, %v; want refused by the fraud policy", res.Outcomes, err)
		}
		if _, err := e.Redeem(ctx, tn, req, nil); err == nil {
			t.Fatal("redeemed over the threshold")
		}
		if _, failures := e.velocity.counts(key, time.Now()); failures != 33 {
			t.Fatalf("%d failures counted after fraud refusals, want 33", failures)
		}
	})
}

// A qualification lists a redeemable only when its discount fits its
// campaign's budget, as the validation and the redemption decide.
func TestQualificationFollowsTheBudget(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		var in campaigns.CampaignInput
		if err := json.Unmarshal([]byte(`{"name":"p-`+ulid.Make().String()+`","campaign_type":"PROMOTION","limits":{"total_discount_amount":500},
			"promotion":{"tiers":[{"name":"Ten","action":{"discount":{"type":"PERCENT","percent_off":10}}}]}}`), &in); err != nil {
			t.Fatal(err)
		}
		c, err := env.camps.Create(ctx, env.tenantID, in)
		if err != nil {
			t.Fatal(err)
		}
		tier := []RedeemableRef{{Object: ObjectPromotionTier, ID: c.Tiers[0].ID}}
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
		if _, err := e.Redeem(ctx, tn, Request{Order: &Order{Amount: 3000}, Redeemables: tier}, nil); err != nil {
			t.Fatal(err) // 300 of the 500 spent
		}
		qualifies := func(amount int64) bool {
			t.Helper()
			res, _, err := e.Qualify(ctx, tn, QualifyRequest{Order: &Order{Amount: amount}})
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(res.Outcomes, func(o Outcome) bool { return o.Tier != nil && o.Tier.ID == c.Tiers[0].ID })
		}
		if qualifies(3000) {
			t.Error("the tier qualifies for 300.00 off with 200.00 of its budget left")
		}
		if !qualifies(2000) {
			t.Error("the tier does not qualify for the 200.00 its budget has left")
		}
	})
}
