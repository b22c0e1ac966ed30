package redemption

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
)

// The reads of a qualification and of a request of many codes answer alike
// before their statements are prepared and after: a wallet of 60 codes created
// at one moment (read in batches by every cursor comparison), a standalone code
// and a promotion of three tiers, and a validation of 13 codes (a list
// prepared at 16).
func TestReadsAnswerAlikePrepared(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		cs := customers.NewService(env.db, env.audit, time.Now)
		ada, _, err := cs.Upsert(ctx, env.tenantID, customers.Input{SourceID: customers.Some("ada")})
		if err != nil {
			t.Fatal(err)
		}
		var wallet campaigns.CampaignInput
		if err := json.Unmarshal([]byte(`{"name":"Wallet","campaign_type":"DISCOUNT_COUPONS","vouchers_count":60,
			"voucher":{"discount":{"type":"AMOUNT","amount_off":100}}}`), &wallet); err != nil {
			t.Fatal(err)
		}
		c, err := env.camps.Create(ctx, env.tenantID, wallet)
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for range 60 {
			v, err := env.camps.Publish(ctx, env.tenantID, ada.ID, "", c.ID)
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, v.Code)
		}
		alone, err := env.camps.CreateVoucher(ctx, env.tenantID, campaigns.VoucherInput{Code: "ALONE", Type: campaigns.VoucherDiscount,
			Discount: &campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(300)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.camps.Publish(ctx, env.tenantID, ada.ID, alone.Code, ""); err != nil {
			t.Fatal(err)
		}
		var promo campaigns.CampaignInput
		if err := json.Unmarshal([]byte(`{"name":"Tiers","campaign_type":"PROMOTION","promotion":{"tiers":[
			{"name":"T1","action":{"discount":{"type":"PERCENT","percent_off":1}}},
			{"name":"T2","action":{"discount":{"type":"PERCENT","percent_off":2}}},
			{"name":"T3","action":{"discount":{"type":"PERCENT","percent_off":3}}}]}}`), &promo); err != nil {
			t.Fatal(err)
		}
		if _, err := env.camps.Create(ctx, env.tenantID, promo); err != nil {
			t.Fatal(err)
		}
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()

		// answers is what the reads give: every qualified redeemable (BEST_DEAL
		// reads every batch: by "", then "<=" and "=" at the wallet's moment,
		// then "<"), and the validation's outcomes of 13 codes.
		type answer struct {
			more      bool
			qualified []string
			validated []string // code:status:campaign
		}
		answers := func() answer {
			t.Helper()
			res, page, err := e.Qualify(ctx, tn, QualifyRequest{Customer: &CustomerRef{ID: ada.ID}, Order: &Order{Amount: 100000},
				Options: &QualifyOption{Limit: MaxQualifyLimit, SortingRule: SortBestDeal}})
			if err != nil {
				t.Fatal(err)
			}
			a := answer{more: page.More}
			for _, o := range res.Outcomes {
				a.qualified = append(a.qualified, o.Ref.ID)
			}
			val, err := e.Validate(ctx, tn, Request{Redeemables: vouchersOf(append(codes[:12:12], alone.Code)...), Order: &Order{Amount: 100000},
				Customer: &CustomerRef{ID: ada.ID}})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range val.Outcomes {
				campaign := ""
				if o.Campaign != nil {
					campaign = o.Campaign.Name
				}
				a.validated = append(a.validated, o.Ref.ID+":"+o.Status+":"+campaign)
			}
			return a
		}
		// The first answer reads unprepared what each statement's first use
		// reads (that use starts preparing it in the background).
		first := answers()
		// Prepared now, not in the background as on first use: the lists as the
		// reads above use them (a batch of ALONE and the tiers, one of the 60
		// codes, the 13 validated).
		type prep struct {
			s *db.Statement
			n int
		}
		preps := []prep{{vouchersByCode, 1}, {vouchersOnlyByCode, 13}, {vouchersOnlyByCode, 60}, {tiersByID, 3}, {campaignsByID, 1}}
		for _, s := range candidateReads {
			preps = append(preps, prep{s, 0})
		}
		for _, p := range preps {
			if err := env.db.Prepare(ctx, p.s, p.n); err != nil {
				t.Fatal(err)
			}
		}
		if again := answers(); !reflect.DeepEqual(again, first) {
			t.Fatalf("prepared reads answer\n%+v\nunprepared\n%+v", again, first)
		}
		// What both answered: 50 of the 64 redeemables, the best first (the
		// tiers, then ALONE), more to read; the 13 codes found, with their
		// campaign but the standalone one.
		if !first.more || len(first.qualified) != MaxQualifyLimit || first.qualified[3] != alone.Code {
			t.Fatalf("qualified (more: %v) %d: %v", first.more, len(first.qualified), first.qualified)
		}
		// The 13 codes found with their campaigns (ALONE has none), the first
		// five applied and the rest skipped by the default stacking limit.
		var want []string
		for i, c := range codes[:12] {
			status := StatusSkipped
			if i < 5 {
				status = StatusApplicable
			}
			want = append(want, c+":"+status+":Wallet")
		}
		want = append(want, alone.Code+":"+StatusSkipped+":")
		if !reflect.DeepEqual(first.validated, want) {
			t.Fatalf("validated %q, want %q", first.validated, want)
		}
	})
}
