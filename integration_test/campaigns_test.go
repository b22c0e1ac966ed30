package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

func TestCampaignAndVoucherResponsesConformToVoucherify(t *testing.T) {
	cs := voucherifySchemas(t, "campaigns.json")
	vs := voucherifySchemas(t, "vouchers.json")
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		created := s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{
			"name": "Happy hour", "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": 3, "category": "general",
			"start_date": "2026-01-01T00:00:00Z", "expiration_date": "2027-01-01T00:00:00Z",
			"validity_hours": map[string]any{"daily": []any{map[string]any{"start_time": "17:00", "expiration_time": "19:00", "days_of_week": []int{5}}}},
			"limits":         map[string]any{"total_redemptions": 500, "total_discount_amount": 3000000},
			"rules":          map[string]any{"min_order_amount": 1000, "channels": []string{"online", "pos"}},
			"voucher": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": 12.5, "amount_limit": 2000},
				"redemption": map[string]any{"quantity": 1}, "code_config": map[string]any{"pattern": "HH-####", "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ"}},
			"metadata": map[string]any{"owner": "marketing"},
		})
		created.wantStatus(t, http.StatusOK)
		conforms(t, cs, "CampaignsCreateResponseBody", created)
		var c struct {
			ID      string `json:"id"`
			Voucher struct {
				Discount struct {
					PercentOff float64 `json:"percent_off"`
				} `json:"discount"`
			} `json:"voucher"`
		}
		created.decode(t, &c)
		if c.Voucher.Discount.PercentOff != 12.5 {
			t.Fatalf("percent_off round-trips as %v", c.Voucher.Discount.PercentOff)
		}
		gift := s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Gift cards", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 1,
			"voucher": map[string]any{"gift": map[string]any{"amount": 5000}}})
		gift.wantStatus(t, http.StatusOK)
		conforms(t, cs, "CampaignsCreateResponseBody", gift)

		promo := s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Promo", "campaign_type": "PROMOTION", "category": "general",
			"promotion": map[string]any{"tiers": []any{map[string]any{"name": "Five", "banner": "5% off", "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": 5}},
				"metadata": map[string]any{"level": 1}}}}})
		promo.wantStatus(t, http.StatusOK)
		conforms(t, cs, "CampaignsCreateResponseBody", promo)
		got := s.do(t, "GET", "/v1/campaigns/Happy%20hour", tn.bearer(), nil)
		got.wantStatus(t, http.StatusOK)
		conforms(t, cs, "CampaignsGetResponseBody", got)
		list := s.do(t, "GET", "/v1/campaigns?limit=2", tn.bearer(), nil)
		list.wantStatus(t, http.StatusOK)
		conforms(t, cs, "CampaignsListResponseBody", list)
		if !strings.Contains(string(list.body), `"has_more":true`) {
			t.Fatalf("first page of two campaigns: %s", list.body)
		}

		vl := s.do(t, "GET", "/v1/vouchers?campaign_id="+c.ID, tn.bearer(), nil)
		vl.wantStatus(t, http.StatusOK)
		conforms(t, vs, "VouchersListResponseBody", vl)
		var codes struct {
			Vouchers []struct{ Code string } `json:"vouchers"`
		}
		vl.decode(t, &codes)
		if len(codes.Vouchers) != 3 || !strings.HasPrefix(codes.Vouchers[0].Code, "HH-") {
			t.Fatalf("vouchers: %s", vl.body)
		}
		// Voucherify's paging and filters: page numbers, the total of every match,
		// campaign by name, category, the holder by source_id, campaign type.
		type counted struct {
			Vouchers  []struct{ Code string } `json:"vouchers"`
			Campaigns []struct{ Name string } `json:"campaigns"`
			Total     int                     `json:"total"`
			HasMore   bool                    `json:"has_more"`
		}
		listed := func(path string) counted {
			t.Helper()
			var l counted
			r := s.do(t, "GET", path, tn.bearer(), nil)
			r.wantStatus(t, http.StatusOK)
			r.decode(t, &l)
			return l
		}
		if l := listed("/v1/vouchers?campaign=Happy%20hour&limit=2&page=2"); len(l.Vouchers) != 1 || l.Total != 3 || l.HasMore {
			t.Fatalf("second page of two of Happy hour's vouchers: %+v", l)
		}
		if l := listed("/v1/vouchers?category=general"); l.Total != 3 {
			t.Fatalf("vouchers of category general: %+v", l)
		}
		var holder struct{ ID string }
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "holder-1"}).decode(t, &holder)
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": holder.ID}, "voucher": codes.Vouchers[2].Code}).wantStatus(t, http.StatusOK)
		if l := listed("/v1/vouchers?customer=holder-1"); l.Total != 1 || len(l.Vouchers) != 1 || l.Vouchers[0].Code != codes.Vouchers[2].Code {
			t.Fatalf("the holder's vouchers: %+v, want %s alone", l, codes.Vouchers[2].Code)
		}
		if l := listed("/v1/vouchers?customer=nobody"); l.Total != 0 || len(l.Vouchers) != 0 {
			t.Fatalf("vouchers of an unknown customer: %+v", l)
		}
		if l := listed("/v1/campaigns?limit=2&page=2"); len(l.Campaigns) != 1 || l.Total != 3 || l.HasMore {
			t.Fatalf("second page of two campaigns: %+v", l)
		}
		if l := listed("/v1/campaigns?campaign_type=GIFT_VOUCHERS"); l.Total != 1 || len(l.Campaigns) != 1 || l.Campaigns[0].Name != "Gift cards" {
			t.Fatalf("gift campaigns: %+v", l)
		}
		s.do(t, "GET", "/v1/campaigns?campaign_type=COUPONS", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "campaign_type")
		s.do(t, "GET", "/v1/vouchers?page=0", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "page")

		v := s.do(t, "GET", "/v1/vouchers/"+codes.Vouchers[0].Code, tn.bearer(), nil)
		v.wantStatus(t, http.StatusOK)
		conforms(t, vs, "VouchersGetResponseBody", v)
		off := s.do(t, "POST", "/v1/vouchers/"+codes.Vouchers[0].Code+"/disable", tn.bearer(), nil)
		off.wantStatus(t, http.StatusOK)
		conforms(t, vs, "VouchersDisableResponseBody", off)
		if !strings.Contains(string(off.body), `"active":false`) {
			t.Fatalf("disabled voucher: %s", off.body)
		}
		on := s.do(t, "POST", "/v1/vouchers/"+codes.Vouchers[0].Code+"/enable", tn.bearer(), nil)
		on.wantStatus(t, http.StatusOK)
		conforms(t, vs, "VouchersEnableResponseBody", on)

		standalone := s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": "GIFT-ADA", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 2500}})
		standalone.wantStatus(t, http.StatusOK)
		conforms(t, vs, "VouchersCreateResponseBody", standalone)
		// Voucherify's SDKs name the code in the path.
		byPath := s.do(t, "POST", "/v1/vouchers/GIFT-BOB", tn.bearer(), map[string]any{"type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 1500}})
		byPath.wantStatus(t, http.StatusOK)
		conforms(t, vs, "VouchersCreateResponseBody", byPath)
		var pathVoucher struct {
			Code string
			Gift struct{ Balance int64 }
		}
		byPath.decode(t, &pathVoucher)
		if pathVoucher.Code != "GIFT-BOB" || pathVoucher.Gift.Balance != 1500 {
			t.Fatalf("voucher created by path: %s", byPath.body)
		}
		s.do(t, "POST", "/v1/vouchers/GIFT-CAROL", tn.bearer(), map[string]any{"code": "GIFT-DAVE", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 1}}).
			wantError(t, http.StatusBadRequest, "", "code")
		s.do(t, "GET", "/v1/vouchers/GIFT-CAROL", tn.bearer(), nil).wantStatus(t, http.StatusNotFound)
		// Money written as a decimal type serialises it (1000.0) is the whole
		// number it equals.
		decimal := s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": "DECIMAL-1", "type": "DISCOUNT_VOUCHER",
			"discount": map[string]any{"type": "AMOUNT", "amount_off": json.Number("1000.0")}})
		decimal.wantStatus(t, http.StatusOK)
		if !strings.Contains(string(decimal.body), `"amount_off":1000`) {
			t.Fatalf("amount_off 1000.0: %s", decimal.body)
		}
		// A voucher created inactive stays off until enabled; fields an SDK
		// sends as null change nothing.
		inactive := s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": "GIFT-OFF", "type": "GIFT_VOUCHER",
			"gift": map[string]any{"amount": 1000}, "active": false, "validity_day_of_week": []int{}, "validity_hours": map[string]any{}, "campaign": nil})
		inactive.wantStatus(t, http.StatusOK)
		if !strings.Contains(string(inactive.body), `"active":false`) {
			t.Fatalf("voucher created inactive: %s", inactive.body)
		}
		if v := validateCode(t, s, tn, "GIFT-OFF", nil, 500); v.Valid {
			t.Fatalf("an inactive voucher validates: %+v", v)
		}
		s.do(t, "POST", "/v1/vouchers/GIFT-OFF/enable", tn.bearer(), nil).wantStatus(t, http.StatusOK)
		if v := validateCode(t, s, tn, "GIFT-OFF", nil, 500); !v.Valid {
			t.Fatalf("the voucher, enabled, is refused: %+v", v)
		}
		s.do(t, "POST", "/v1/campaigns/"+c.ID+"/vouchers", tn.bearer(), map[string]any{"metadata": nil, "category": nil}).wantStatus(t, http.StatusOK)

		// The kill switch: Voucherify answers with an empty object; the flag reads back.
		s.do(t, "POST", "/v1/campaigns/"+c.ID+"/disable", tn.bearer(), nil).wantStatus(t, http.StatusOK)
		after := s.do(t, "GET", "/v1/campaigns/"+c.ID, tn.bearer(), nil)
		if !strings.Contains(string(after.body), `"active":false`) {
			t.Fatalf("disabled campaign reads %s", after.body)
		}
		s.do(t, "POST", "/v1/campaigns/"+c.ID+"/enable", tn.bearer(), nil).wantStatus(t, http.StatusOK)
	})
}

func TestCampaignBadInputWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Taken", "campaign_type": "GIFT_VOUCHERS",
			"voucher": map[string]any{"gift": map[string]any{"amount": 100}}}).wantStatus(t, http.StatusOK)
		before := writes(t, s, tn.ID)
		vouchersBefore := countRows(t, s, tn.ID, "vouchers")
		discount := func(d map[string]any) map[string]any {
			return map[string]any{"name": "Bad", "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": 5, "voucher": map[string]any{"discount": d}}
		}
		cases := []struct {
			name, field string
			status      int
			body        any
		}{
			{"malformed JSON", "body", 400, `{"name": "x",`},
			{"unknown campaign type", "campaign_type", 400, map[string]any{"name": "Bad", "campaign_type": "LOTTERY", "voucher": map[string]any{}}},
			{"fractional money", "amount_off", 400, discount(map[string]any{"type": "AMOUNT", "amount_off": 10.5})},
			{"negative money", "amount_off", 400, discount(map[string]any{"type": "AMOUNT", "amount_off": -100})},
			{"absurd money", "amount_off", 400, discount(map[string]any{"type": "AMOUNT", "amount_off": 1e15})},
			{"percent over 100", "percent_off", 400, discount(map[string]any{"type": "PERCENT", "percent_off": 150})},
			{"percent with three decimals", "percent_off", 400, discount(map[string]any{"type": "PERCENT", "percent_off": 12.345})},
			{"unknown discount type", "discount.type", 400, discount(map[string]any{"type": "BOGO"})},
			{"wrong effect", "effect", 400, discount(map[string]any{"type": "AMOUNT", "amount_off": 100, "effect": "ADD_NEW_ITEMS"})},
			{"string count", "vouchers_count", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": "ten", "voucher": map[string]any{"gift": map[string]any{"amount": 1}}}},
			{"too many codes for the pattern", "code_config", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 500,
				"voucher": map[string]any{"gift": map[string]any{"amount": 1}, "code_config": map[string]any{"pattern": "X-###", "charset": "0123456789"}}}},
			// A generated code obeys an imported one's rules: a '/' would make
			// the voucher unreachable at /v1/vouchers/{code}.
			{"slash in the prefix", "code_config.prefix", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS",
				"voucher": map[string]any{"gift": map[string]any{"amount": 1}, "code_config": map[string]any{"prefix": "A/", "length": 8}}}},
			{"space in the pattern", "code_config.pattern", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS",
				"voucher": map[string]any{"gift": map[string]any{"amount": 1}, "code_config": map[string]any{"pattern": "## ####"}}}},
			{"slash in the charset", "code_config.charset", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS",
				"voucher": map[string]any{"gift": map[string]any{"amount": 1}, "code_config": map[string]any{"charset": "AB/C"}}}},
			{"a name like an id", "name", 400, map[string]any{"name": "camp_01KQ6Y2ZC7J3A0R7YV4B6R3E2N", "campaign_type": "GIFT_VOUCHERS", "voucher": map[string]any{"gift": map[string]any{"amount": 1}}}},
			{"bad happy hour", "validity_hours", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS", "voucher": map[string]any{"gift": map[string]any{"amount": 1}},
				"validity_hours": map[string]any{"daily": []any{map[string]any{"start_time": "5pm", "expiration_time": "19:00", "days_of_week": []int{5}}}}}},
			// Voucherify fields Punchcard does not model are refused, not
			// dropped: the campaign would be valid at every hour.
			{"recurring windows", "validity_timeframe", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS", "voucher": map[string]any{"gift": map[string]any{"amount": 1}},
				"validity_timeframe": map[string]any{"interval": "P2D", "duration": "PT1H"}}},
			{"a tier's recurring windows", "promotion.tiers[0].validity_timeframe", 400, map[string]any{"name": "Bad", "campaign_type": "PROMOTION",
				"promotion": map[string]any{"tiers": []any{map[string]any{"name": "T", "action": map[string]any{"discount": map[string]any{"type": "AMOUNT", "amount_off": 100}},
					"validity_timeframe": map[string]any{"interval": "P2D", "duration": "PT1H"}}}}}},
			{"a date without its time", "start_date", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS", "voucher": map[string]any{"gift": map[string]any{"amount": 1}},
				"start_date": "2026-01-01"}},
			{"a tier's date without its time", "promotion.tiers[0].expiration_date", 400, map[string]any{"name": "Bad", "campaign_type": "PROMOTION",
				"promotion": map[string]any{"tiers": []any{map[string]any{"name": "T", "action": map[string]any{"discount": map[string]any{"type": "AMOUNT", "amount_off": 100}},
					"expiration_date": "31/12/2026"}}}}},
			{"zero limit", "limits.total_redemptions", 400, map[string]any{"name": "Bad", "campaign_type": "GIFT_VOUCHERS", "voucher": map[string]any{"gift": map[string]any{"amount": 1}},
				"limits": map[string]any{"total_redemptions": 0}}},
			{"duplicate name", "Taken", 409, map[string]any{"name": "Taken", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 2, "voucher": map[string]any{"gift": map[string]any{"amount": 1}}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s.do(t, "POST", "/v1/campaigns", tn.bearer(), c.body).wantError(t, c.status, "", c.field)
			})
		}
		s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": "has space", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 1}}).wantError(t, 400, "", "code")
		for field, value := range map[string]any{"validity_day_of_week": []int{1}, "validity_hours": map[string]any{"daily": []any{}},
			"validity_timeframe": map[string]any{"interval": "P1D"}, "campaign": "Taken", "campaign_id": "camp_x"} {
			s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": "UNSUPPORTED-1", "type": "GIFT_VOUCHER",
				"gift": map[string]any{"amount": 1}, field: value}).wantError(t, 400, "", field)
			s.do(t, "POST", "/v1/vouchers/import", tn.bearer(), []any{map[string]any{"code": "UNSUPPORTED-2", "type": "GIFT_VOUCHER",
				"gift": map[string]any{"amount": 1}, field: value}}).wantError(t, 400, "", "[0]."+field)
		}
		s.do(t, "GET", "/v1/vouchers?limit=1000", tn.bearer(), nil).wantError(t, 400, "", "limit")
		for _, param := range []string{"code", "ids", "order", "created_at[before]", "filters[code][conditions][$is]"} {
			s.do(t, "GET", "/v1/vouchers?"+url.QueryEscape(param)+"=X", tn.bearer(), nil).wantError(t, 400, "", param)
		}
		s.do(t, "GET", "/v1/vouchers?order=-created_at", tn.bearer(), nil).wantStatus(t, http.StatusOK) // the order served
		if after := writes(t, s, tn.ID); after != before || countRows(t, s, tn.ID, "vouchers") != vouchersBefore {
			t.Fatalf("rejected requests wrote rows: %v → %v", before, after)
		}
		// A point-of-sale key may not manage campaigns.
		pos := s.keyWithRole(t, tn, "pos")
		s.do(t, "POST", "/v1/campaigns", pos.bearer(), map[string]any{"name": "POS", "campaign_type": "GIFT_VOUCHERS", "voucher": map[string]any{"gift": map[string]any{"amount": 1}}}).wantStatus(t, http.StatusForbidden)
	})
}

// 100,000 codes are generated by an asynchronous action, watched through the
// campaign's generation status and the action's status endpoint.
func TestLargeCodeGenerationIsAsynchronous(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var c struct {
			ID                       string `json:"id"`
			VouchersGenerationStatus string `json:"vouchers_generation_status"`
			CreationStatus           string `json:"creation_status"`
			VouchersCount            int    `json:"vouchers_count"`
		}
		s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Big", "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": 100000,
			"voucher": map[string]any{"discount": map[string]any{"type": "AMOUNT", "amount_off": 100}, "code_config": map[string]any{"length": 10}}}).decode(t, &c)
		if c.VouchersGenerationStatus != "IN_PROGRESS" || c.CreationStatus != "IN_PROGRESS" {
			t.Fatalf("a 100,000-code campaign reads %+v", c)
		}
		// A liveness bound, not a speed check: 100,000 codes take seconds, but
		// under the race detector SQLite (C translated to Go) runs some 17 times
		// slower, several minutes on a busy 2-core machine.
		deadline := time.Now().Add(9 * time.Minute)
		for c.VouchersGenerationStatus != "DONE" {
			if time.Now().After(deadline) {
				t.Fatalf("generation still %s", c.VouchersGenerationStatus)
			}
			time.Sleep(250 * time.Millisecond)
			s.do(t, "GET", "/v1/campaigns/"+c.ID, tn.bearer(), nil).decode(t, &c)
		}
		if n := countRows(t, s, tn.ID, "vouchers"); n != 100000 || c.VouchersCount != 100000 || c.CreationStatus != "DONE" {
			t.Fatalf("%d vouchers stored, campaign counts %d; want 100,000", n, c.VouchersCount)
		}
		var distinct int
		if err := s.app.DB.Read(context.Background(), tn.ID, func(ctx context.Context, tx bun.Tx) error {
			return tx.QueryRowContext(ctx, "SELECT count(DISTINCT code) FROM vouchers WHERE tenant_id = ?", tn.ID).Scan(&distinct)
		}); err != nil || distinct != 100000 {
			t.Fatalf("%d distinct codes (%v)", distinct, err)
		}

		// Adding codes: one at once, more through an action with a status endpoint.
		one := s.do(t, "POST", "/v1/campaigns/"+c.ID+"/vouchers", tn.bearer(), nil)
		one.wantStatus(t, http.StatusOK)
		added := s.do(t, "POST", "/v1/campaigns/"+c.ID+"/vouchers?vouchers_count=2500", tn.bearer(), nil)
		added.wantStatus(t, http.StatusAccepted)
		var ref struct {
			AsyncActionID string `json:"async_action_id"`
		}
		added.decode(t, &ref)
		var action struct {
			Status   string `json:"status"`
			Progress int    `json:"progress"`
		}
		for action.Status != "DONE" {
			if time.Now().After(deadline) || action.Status == "FAILED" {
				t.Fatalf("action %+v", action)
			}
			time.Sleep(100 * time.Millisecond)
			s.do(t, "GET", "/v1/async-actions/"+ref.AsyncActionID, tn.bearer(), nil).decode(t, &action)
		}
		s.do(t, "GET", "/v1/campaigns/"+c.ID, tn.bearer(), nil).decode(t, &c)
		if action.Progress != 2500 || c.VouchersCount != 102501 || countRows(t, s, tn.ID, "vouchers") != 102501 {
			t.Fatalf("after adding: action %+v, campaign counts %d", action, c.VouchersCount)
		}
		for _, bad := range []string{"ten", "0", "-3", ""} {
			s.do(t, "POST", "/v1/campaigns/"+c.ID+"/vouchers?vouchers_count="+bad, tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "vouchers_count")
		}
		// Voucherify's overrides of the voucher template are refused, not
		// dropped: a code meant for one use must not be added unlimited.
		s.do(t, "POST", "/v1/campaigns/"+c.ID+"/vouchers", tn.bearer(), map[string]any{"vouchers_count": 2, "redemption": map[string]any{"quantity": 1}}).
			wantError(t, http.StatusBadRequest, "", "redemption")
		if n := countRows(t, s, tn.ID, "vouchers"); n != 102501 {
			t.Fatalf("refused additions wrote: %d vouchers", n)
		}
	})
}

func TestVoucherImport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": "TAKEN", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 1}}).wantStatus(t, http.StatusOK)
		var batch []any
		for i := range 1200 {
			batch = append(batch, map[string]any{"code": fmt.Sprintf("IMP-%04d", i), "type": "DISCOUNT_VOUCHER", "category": "imported",
				"discount": map[string]any{"type": "AMOUNT", "amount_off": 100 + i}, "redemption": map[string]any{"quantity": 1}})
		}
		batch = append(batch, map[string]any{"code": "TAKEN", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 5}})
		r := s.do(t, "POST", "/v1/vouchers/import", tn.bearer(), batch)
		r.wantStatus(t, http.StatusAccepted)
		var ref struct {
			AsyncActionID string `json:"async_action_id"`
		}
		r.decode(t, &ref)
		var action struct {
			Status string `json:"status"`
			Result struct {
				DoneCount   int `json:"done_count"`
				FailedCount int `json:"failed_count"`
				Failed      []struct{ Code, Reason string }
			} `json:"result"`
		}
		deadline := time.Now().Add(2 * time.Minute)
		for action.Status != "DONE" {
			if time.Now().After(deadline) || action.Status == "FAILED" {
				t.Fatalf("import: %+v", action)
			}
			time.Sleep(100 * time.Millisecond)
			s.do(t, "GET", "/v1/async-actions/"+ref.AsyncActionID, tn.bearer(), nil).decode(t, &action)
		}
		if action.Result.DoneCount != 1200 || action.Result.FailedCount != 1 || action.Result.Failed[0].Code != "TAKEN" {
			t.Fatalf("import result: %+v", action.Result)
		}
		var v struct {
			Discount struct {
				AmountOff int `json:"amount_off"`
			} `json:"discount"`
			Category string `json:"category"`
		}
		s.do(t, "GET", "/v1/vouchers/IMP-0042", tn.bearer(), nil).decode(t, &v)
		if v.Discount.AmountOff != 142 || v.Category != "imported" {
			t.Fatalf("imported voucher: %+v", v)
		}
		// Bad entries are refused up front, naming the entry; nothing is enqueued.
		before := writes(t, s, tn.ID)
		s.do(t, "POST", "/v1/vouchers/import", tn.bearer(), []any{map[string]any{"code": "A", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 1}},
			map[string]any{"code": "B", "type": "DISCOUNT_VOUCHER", "discount": map[string]any{"type": "PERCENT", "percent_off": 250}}}).wantError(t, http.StatusBadRequest, "", "[1].discount.percent_off")
		s.do(t, "POST", "/v1/vouchers/import", tn.bearer(), []any{map[string]any{"type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 1}}}).wantError(t, http.StatusBadRequest, "", "[0].code")
		s.do(t, "POST", "/v1/vouchers/import", tn.bearer(), []any{}).wantStatus(t, http.StatusBadRequest)
		if after := writes(t, s, tn.ID); after != before {
			t.Fatalf("refused imports wrote: %v → %v", before, after)
		}
	})
}

// A standalone voucher's code_config with few codes: once every code is taken,
// another is refused with a conflict that names code_config, and nothing is
// written (it was a 500 on PostgreSQL, whose transaction a failed insert
// aborts).
func TestStandaloneCodeSpaceExhausted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		body := map[string]any{"type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 100}, "code_config": map[string]any{"charset": "AB", "length": 1}}
		codes := map[string]bool{}
		for range 2 {
			var v struct{ Code string }
			s.do(t, "POST", "/v1/vouchers", tn.bearer(), body).decode(t, &v)
			codes[v.Code] = true
		}
		if !codes["A"] || !codes["B"] {
			t.Fatalf("codes %v, want A and B", codes)
		}
		before := writes(t, s, tn.ID)
		for range 2 {
			s.do(t, "POST", "/v1/vouchers", tn.bearer(), body).wantError(t, http.StatusConflict, "code_config_exhausted", "code_config")
		}
		s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": "A", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 100}}).
			wantError(t, http.StatusConflict, "duplicate_found", "A")
		if after := writes(t, s, tn.ID); after != before {
			t.Fatalf("refused vouchers wrote: %v → %v", before, after)
		}
	})
}

// Creating campaigns and vouchers runs once per Idempotency-Key, as API.md
// promises for voucher generation: the retry of a request whose answer was
// lost gets that answer, and generates nothing more.
func TestCodeGenerationIsIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		for _, c := range []struct {
			name, path string
			body       any
			status     int
		}{
			{"campaign", "/v1/campaigns", map[string]any{"name": "Once", "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": 3,
				"voucher": map[string]any{"discount": map[string]any{"type": "AMOUNT", "amount_off": 100}}}, http.StatusOK},
			{"standalone voucher", "/v1/vouchers", map[string]any{"type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 5000}}, http.StatusOK},
			{"one more code", "/v1/campaigns/Once/vouchers", nil, http.StatusOK},
			{"more codes", "/v1/campaigns/Once/vouchers?vouchers_count=5", nil, http.StatusAccepted},
			{"import", "/v1/vouchers/import", []any{map[string]any{"code": "IMPORTED-1", "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 100}}}, http.StatusAccepted},
		} {
			h := tn.bearer()
			h["Idempotency-Key"] = "create-" + c.name
			first := s.do(t, "POST", c.path, h, c.body)
			first.wantStatus(t, c.status)
			waitForActions(t, s, tn)
			vouchers := countRows(t, s, tn.ID, "vouchers")
			again := s.do(t, "POST", c.path, h, c.body)
			if again.status != c.status || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("%s: retry answered %d %s (replayed %q); want the first answer %s", c.name, again.status, again.body, again.header.Get("Idempotent-Replayed"), first.body)
			}
			waitForActions(t, s, tn)
			if n := countRows(t, s, tn.ID, "vouchers"); n != vouchers {
				t.Fatalf("%s: the retry generated codes: %d → %d", c.name, vouchers, n)
			}
		}
		if n := countRows(t, s, tn.ID, "campaigns"); n != 1 {
			t.Fatalf("%d campaigns, want 1", n)
		}
		if n := countRows(t, s, tn.ID, "vouchers"); n != 3+1+1+5+1 {
			t.Fatalf("%d vouchers, want 11", n)
		}
	})
}

// waitForActions waits until the tenant's asynchronous actions have all ended.
func waitForActions(t *testing.T, s *server, tn tenant) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var n int
		err := s.app.DB.Read(context.Background(), tn.ID, func(ctx context.Context, tx bun.Tx) error {
			return tx.QueryRowContext(ctx, "SELECT count(*) FROM async_actions WHERE tenant_id = ? AND status IN ('ENQUEUED', 'IN_PROGRESS')", tn.ID).Scan(&n)
		})
		if err != nil {
			t.Fatalf("pending actions: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d actions still pending", n)
		}
	}
}
