package integration_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

// campaignCodes creates a campaign from body and returns its id and codes.
func campaignCodes(t *testing.T, s *server, tn tenant, body map[string]any) (string, []string) {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	s.do(t, "POST", "/v1/campaigns", tn.bearer(), body).decode(t, &c)
	if c.ID == "" {
		t.Fatalf("campaign not created from %v", body)
	}
	var vs struct {
		Vouchers []struct{ Code string } `json:"vouchers"`
	}
	s.do(t, "GET", "/v1/vouchers?limit=100&campaign_id="+c.ID, tn.bearer(), nil).decode(t, &vs)
	codes := make([]string, len(vs.Vouchers))
	for i, v := range vs.Vouchers {
		codes[i] = v.Code
	}
	return c.ID, codes
}

type validation struct {
	Valid       bool `json:"valid"`
	Redeemables []struct {
		Status string `json:"status"`
		ID     string `json:"id"`
		Result struct {
			Error *struct {
				Key  string `json:"key"`
				Rule string `json:"rule"`
			} `json:"error"`
			Details *struct {
				Key  string `json:"key"`
				Rule string `json:"rule"`
			} `json:"details"`
		} `json:"result"`
	} `json:"redeemables"`
	Order struct {
		Amount              int64 `json:"amount"`
		TotalDiscountAmount int64 `json:"total_discount_amount"`
		TotalAmount         int64 `json:"total_amount"`
	} `json:"order"`
}

func vouchers(codes ...string) []any {
	out := make([]any, len(codes))
	for i, c := range codes {
		out[i] = map[string]any{"object": "voucher", "id": c}
	}
	return out
}

func discountCampaign(name string, count int, discount map[string]any, extra map[string]any) map[string]any {
	b := map[string]any{"name": name, "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": count, "voucher": map[string]any{"discount": discount}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestValidateRedeemRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, discountCampaign("Fifteen", 2, map[string]any{"type": "PERCENT", "percent_off": 15}, nil))
		req := map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 10000}}

		var v validation
		s.do(t, "POST", "/v1/validations", tn.bearer(), req).decode(t, &v)
		if !v.Valid || v.Redeemables[0].Status != "APPLICABLE" || v.Order.TotalDiscountAmount != 1500 || v.Order.TotalAmount != 8500 {
			t.Fatalf("validation: %+v", v)
		}
		r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), req)
		r.wantStatus(t, http.StatusOK)
		var red struct {
			ParentRedemption struct {
				ID string `json:"id"`
			} `json:"parent_redemption"`
			Redemptions []struct {
				ID         string `json:"id"`
				Redemption string `json:"redemption"`
			} `json:"redemptions"`
		}
		r.decode(t, &red)
		if red.ParentRedemption.ID == "" || len(red.Redemptions) != 1 || red.Redemptions[0].Redemption != red.ParentRedemption.ID {
			t.Fatalf("redemption: %s", r.body)
		}
		rb := s.do(t, "POST", "/v1/redemptions/"+red.ParentRedemption.ID+"/rollbacks", tn.bearer(), map[string]any{"reason": "returned"})
		rb.wantStatus(t, http.StatusOK)
		s.do(t, "POST", "/v1/redemptions/"+red.ParentRedemption.ID+"/rollbacks", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "already_rolled_back", red.ParentRedemption.ID)
		s.do(t, "POST", "/v1/redemptions/r_01KZZZZZZZZZZZZZZZZZZZZZZZ/rollbacks", tn.bearer(), nil).wantStatus(t, http.StatusNotFound)
		// One domain event for each change, about the redemption; none for the refused rollback.
		for _, typ := range []string{"redemption.succeeded", "redemption.rolled_back"} {
			if ids := outboxIDs(t, s, tn, typ); len(ids) != 1 || ids[0] != red.ParentRedemption.ID {
				t.Fatalf("outbox %s events about %v; want one about %s", typ, ids, red.ParentRedemption.ID)
			}
		}

		// Unknown codes are INAPPLICABLE; redeeming them is a 400 naming the key.
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers("NOPE"), "order": map[string]any{"amount": 100}}).decode(t, &v)
		if v.Valid || v.Redeemables[0].Status != "INAPPLICABLE" || v.Redeemables[0].Result.Error.Key != "resource_not_found" {
			t.Fatalf("unknown code: %+v", v)
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers("NOPE"), "order": map[string]any{"amount": 100}}).
			wantError(t, http.StatusBadRequest, "resource_not_found", "NOPE")
	})
}

// The seed programmes of the promotions engine, through the API.
func TestSeedPrograms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		t.Run("15% general not with 20% loyalty", func(t *testing.T) {
			tn := s.newTenant(t)
			_, general := campaignCodes(t, s, tn, discountCampaign("General 15", 1, map[string]any{"type": "PERCENT", "percent_off": 15}, map[string]any{"category": "general"}))
			_, loyalty := campaignCodes(t, s, tn, discountCampaign("Members 20", 1, map[string]any{"type": "PERCENT", "percent_off": 20}, map[string]any{"category": "loyalty-member"}))
			s.do(t, "PUT", "/v1/stacking-rules", tn.bearer(), map[string]any{"exclusive_categories": []string{"general", "loyalty-member"}}).wantStatus(t, http.StatusOK)
			var v validation
			s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(loyalty[0], general[0]), "order": map[string]any{"amount": 10000}}).decode(t, &v)
			// A redeemable the stacking rules skip does not spoil the other.
			if !v.Valid || v.Redeemables[0].Status != "APPLICABLE" || v.Redeemables[1].Status != "SKIPPED" || v.Order.TotalDiscountAmount != 2000 {
				t.Fatalf("the two discounts combined: %+v", v)
			}
			// Both categories are exclusive, and by default one exclusive redeemable applies.
			if d := v.Redeemables[1].Result.Details; d == nil || d.Key != "applicable_exclusive_redeemables_limit_exceeded" {
				t.Fatalf("skipped without the exclusive limit's key: %+v", v.Redeemables[1])
			}
			// Each alone applies.
			s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(general[0]), "order": map[string]any{"amount": 10000}}).decode(t, &v)
			if !v.Valid || v.Order.TotalDiscountAmount != 1500 {
				t.Fatalf("general alone: %+v", v)
			}
		})
		t.Run("discounts capped at 30,000.00", func(t *testing.T) {
			tn := s.newTenant(t)
			_, codes := campaignCodes(t, s, tn, discountCampaign("Capped", 1, map[string]any{"type": "AMOUNT", "amount_off": 1000000},
				map[string]any{"limits": map[string]any{"total_discount_amount": 3000000}}))
			for i := range 3 {
				s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 2000000}}).
					wantStatus(t, http.StatusOK)
				_ = i
			}
			s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 2000000}}).
				wantError(t, http.StatusBadRequest, "limit_exceeded", codes[0])
		})
		t.Run("order value capped at 100,000.00", func(t *testing.T) {
			tn := s.newTenant(t)
			_, codes := campaignCodes(t, s, tn, discountCampaign("Order cap", 1, map[string]any{"type": "PERCENT", "percent_off": 5},
				map[string]any{"limits": map[string]any{"total_order_amount": 10000000}}))
			for range 2 {
				s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 4000000}}).wantStatus(t, http.StatusOK)
			}
			s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 4000000}}).
				wantError(t, http.StatusBadRequest, "limit_exceeded", "")
		})
		t.Run("happy hour", func(t *testing.T) {
			tn := s.newTenant(t)
			now := tenantNow(t)
			_, friday := campaignCodes(t, s, tn, discountCampaign("Happy hour", 1, map[string]any{"type": "PERCENT", "percent_off": 10},
				map[string]any{"validity_hours": map[string]any{"daily": []any{map[string]any{"start_time": "17:00", "expiration_time": "19:00", "days_of_week": []int{5}}}}}))
			var v validation
			s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(friday[0]), "order": map[string]any{"amount": 5000}}).decode(t, &v)
			inWindow := now.Weekday() == time.Friday && now.Hour() >= 17 && now.Hour() < 19
			if v.Valid != inWindow {
				t.Fatalf("Friday 17–19 happy hour at %s: valid=%v: %+v", now.Format(time.RFC1123), v.Valid, v)
			}
			if !inWindow && (v.Redeemables[0].Result.Error == nil || v.Redeemables[0].Result.Error.Key != "not_valid_today" || v.Redeemables[0].Result.Error.Rule != "schedule.validity_hours") {
				t.Fatalf("outside the window without the rule: %+v", v.Redeemables[0])
			}
			// A window around this very minute, today, in the tenant's zone, applies;
			// one that ended a few minutes ago (in the afternoon) or that starts in a few
			// (in the morning) does not. Windows stay within the day.
			day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
			clamp := func(at time.Time) string {
				switch last := day.Add(24*time.Hour - time.Minute); {
				case at.Before(day):
					at = day
				case at.After(last):
					at = last
				}
				return at.Format("15:04")
			}
			window := func(from, to time.Time) map[string]any {
				return map[string]any{"daily": []any{map[string]any{"start_time": clamp(from), "expiration_time": clamp(to), "days_of_week": []int{int(now.Weekday())}}}}
			}
			_, open := campaignCodes(t, s, tn, discountCampaign("Now", 1, map[string]any{"type": "AMOUNT", "amount_off": 100},
				map[string]any{"validity_hours": window(now.Add(-time.Hour), now.Add(time.Hour))}))
			other := window(now.Add(-time.Hour), now.Add(-5*time.Minute))
			if now.Hour() < 12 {
				other = window(now.Add(5*time.Minute), now.Add(time.Hour))
			}
			_, closed := campaignCodes(t, s, tn, discountCampaign("Not now", 1, map[string]any{"type": "AMOUNT", "amount_off": 100},
				map[string]any{"validity_hours": other}))
			s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(open[0]), "order": map[string]any{"amount": 5000}}).decode(t, &v)
			if !v.Valid {
				t.Fatalf("window around now: %+v", v)
			}
			s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(closed[0]), "order": map[string]any{"amount": 5000}}).decode(t, &v)
			if v.Valid {
				t.Fatalf("window that does not hold now: %+v", v)
			}
		})
	})
}

// Concurrent redemptions of one gift card all succeed and each reports the
// balance its own redemption left: the replies' balances are distinct and
// account for every credit taken, and the card's stored balance is the last.
func TestConcurrentGiftCardRedemptionsReportTheirBalance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, cards := campaignCodes(t, s, tn, map[string]any{"name": "Cards", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 1,
			"voucher": map[string]any{"gift": map[string]any{"amount": 10000}}})
		const n = 8
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			balances = map[int64]int{}
			statuses = map[int]int{}
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{
					"redeemables": []any{map[string]any{"object": "voucher", "id": cards[0], "gift": map[string]any{"credits": 1000}}},
					"order":       map[string]any{"amount": 5000}})
				var body struct {
					Redemptions []struct {
						Voucher struct {
							Gift struct{ Balance int64 }
						}
					}
				}
				mu.Lock()
				defer mu.Unlock()
				statuses[r.status]++
				if r.status == http.StatusOK && json.Unmarshal(r.body, &body) == nil && len(body.Redemptions) == 1 {
					balances[body.Redemptions[0].Voucher.Gift.Balance]++
				}
			}()
		}
		wg.Wait()
		ok := statuses[http.StatusOK]
		if ok != n {
			t.Fatalf("statuses %v: want every redemption to succeed", statuses)
		}
		for i := 1; i <= ok; i++ {
			if balances[10000-int64(i)*1000] != 1 {
				t.Fatalf("%d successes reported balances %v; want each of 9000 down to %d once", ok, balances, 10000-ok*1000)
			}
		}
		var card struct{ Gift struct{ Balance int64 } }
		s.do(t, "GET", "/v1/vouchers/"+cards[0], tn.bearer(), nil).decode(t, &card)
		if card.Gift.Balance != 10000-int64(ok)*1000 {
			t.Fatalf("stored balance %d after %d redemptions of 1000", card.Gift.Balance, ok)
		}
	})
}

// A redemption that names a new customer by source_id creates it, as Voucherify
// does; a validation does not. Concurrent first redemptions of one new
// customer create one customer, and its per-customer limit holds across them.
func TestRedemptionCreatesANewCustomer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, discountCampaign("Once each", 1, map[string]any{"type": "AMOUNT", "amount_off": 100},
			map[string]any{"limits": map[string]any{"per_customer": 1}}))
		body := func(sourceID string) map[string]any {
			return map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 1000},
				"customer": map[string]any{"source_id": sourceID}}
		}
		var v struct {
			Valid bool `json:"valid"`
			Order struct {
				CustomerID *string `json:"customer_id"`
			} `json:"order"`
		}
		s.do(t, "POST", "/v1/validations", tn.bearer(), body("first-timer")).decode(t, &v)
		if !v.Valid || v.Order.CustomerID != nil {
			t.Fatalf("validation for a new customer: %+v, want valid without a customer id", v)
		}
		s.do(t, "GET", "/v1/customers/first-timer", tn.bearer(), nil).wantError(t, http.StatusNotFound, "", "")

		var redeemed struct {
			Parent struct {
				CustomerID string `json:"customer_id"`
				Customer   struct {
					ID       string `json:"id"`
					SourceID string `json:"source_id"`
				} `json:"customer"`
			} `json:"parent_redemption"`
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), body("first-timer")).decode(t, &redeemed)
		r := redeemed.Parent
		var c struct {
			ID       string `json:"id"`
			SourceID string `json:"source_id"`
		}
		s.do(t, "GET", "/v1/customers/first-timer", tn.bearer(), nil).decode(t, &c)
		if !strings.HasPrefix(c.ID, "cust_") || r.CustomerID != c.ID || r.Customer.ID != c.ID || r.Customer.SourceID != "first-timer" {
			t.Fatalf("redemption %+v created customer %+v", r, c)
		}
		if n := auditCount(t, s, tn, "customer.created"); n != 1 {
			t.Fatalf("%d customer.created audit events, want 1", n)
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), body("first-timer")).wantError(t, http.StatusBadRequest, "limit_exceeded", "")

		const n = 8
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[string]int{}
		)
		for range n {
			wg.Go(func() {
				r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), body("rush"))
				var e errorBody
				_ = json.Unmarshal(r.body, &e)
				mu.Lock()
				defer mu.Unlock()
				statuses[fmt.Sprint(r.status, " ", e.Key)]++
			})
		}
		wg.Wait()
		if statuses["200 "] != 1 || statuses["400 limit_exceeded"] != n-1 {
			t.Fatalf("concurrent first redemptions of one new customer: %v, want one success and %d limit_exceeded", statuses, n-1)
		}
		if got := countRows(t, s, tn.ID, "customers"); got != 2 {
			t.Fatalf("%d customers, want first-timer and rush", got)
		}
	})
}

// R1: 1,000 concurrent redemptions against a campaign capped at 500.
func TestConcurrentRedemptionsRespectTheCap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		campaignID, codes := campaignCodes(t, s, tn, discountCampaign("First 500", 1, map[string]any{"type": "AMOUNT", "amount_off": 1000},
			map[string]any{"limits": map[string]any{"total_redemptions": 500, "total_discount_amount": 1000 * 600, "per_customer": 9}}))
		var customers []string
		for i := range 100 {
			var c struct{ ID string }
			s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": fmt.Sprintf("r1-%d", i)}).decode(t, &c)
			customers = append(customers, c.ID)
		}
		var (
			mu     sync.Mutex
			wg     sync.WaitGroup
			ok     int
			keys   = map[string]int{}
			server int
		)
		for i := range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]),
					"order": map[string]any{"amount": 5000}, "customer": map[string]any{"id": customers[i%100]}})
				var e errorBody
				_ = json.Unmarshal(r.body, &e)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.status == http.StatusOK:
					ok++
				case r.status >= 500:
					server++
				default:
					keys[fmt.Sprint(r.status, " ", e.Key)]++
				}
			}()
		}
		wg.Wait()
		if ok != 500 || server != 0 || keys["400 limit_exceeded"] != 500 {
			t.Fatalf("%d succeeded, %d server errors, refusals %v; want exactly 500, 0 and 500 limit_exceeded", ok, server, keys)
		}
		var c struct {
			Usage struct {
				Redemptions    int64 `json:"redemptions"`
				DiscountAmount int64 `json:"discount_amount"`
			} `json:"usage"`
		}
		s.do(t, "GET", "/v1/campaigns/"+campaignID, tn.bearer(), nil).decode(t, &c)
		if c.Usage.Redemptions != 500 || c.Usage.DiscountAmount != 500*1000 {
			t.Fatalf("campaign usage %+v, want 500 redemptions", c.Usage)
		}
		if n := countRows(t, s, tn.ID, "redemptions"); n != 500*2 {
			t.Fatalf("%d redemption rows, want 500 parents and 500 children", n)
		}
		if n := auditCount(t, s, tn, "redemption.succeeded"); n != 500 {
			t.Fatalf("%d redemption.succeeded audit events, want 500", n)
		}
	})
}

func auditCount(t *testing.T, s *server, tn tenant, action string) int {
	t.Helper()
	var n int
	err := s.app.DB.Read(context.Background(), tn.ID, func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM audit_events WHERE tenant_id = ? AND action = ?", tn.ID, action).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// outboxIDs are the ids of the redemptions that tn's outbox events of type typ
// are about.
func outboxIDs(t *testing.T, s *server, tn tenant, typ string) []string {
	t.Helper()
	ids := []string{}
	err := s.app.DB.Read(context.Background(), tn.ID, func(ctx context.Context, tx bun.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT payload FROM outbox WHERE tenant_id = ? AND type = ? ORDER BY id", tn.ID, typ)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var payload []byte
			var ev struct{ ID, Type string }
			if err := rows.Scan(&payload); err != nil {
				return err
			}
			if err := json.Unmarshal(payload, &ev); err != nil || ev.Type != typ {
				return fmt.Errorf("outbox payload %s: %v", payload, err)
			}
			ids = append(ids, ev.ID)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// R2: redemptions and rollbacks racing on one campaign and one gift card leave the
// counters at exactly redeemed − rolled back.
func TestRedeemAndRollbackRaceOverTheAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, map[string]any{"name": "Cards", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 1,
			"voucher": map[string]any{"gift": map[string]any{"amount": 1000000}}})
		card := codes[0]
		redeem := func() string {
			var red struct {
				ParentRedemption struct{ ID string } `json:"parent_redemption"`
			}
			r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": []any{map[string]any{"object": "voucher", "id": card, "gift": map[string]any{"credits": 700}}},
				"order": map[string]any{"amount": 5000}})
			if r.status != http.StatusOK {
				return ""
			}
			r.decode(t, &red)
			return red.ParentRedemption.ID
		}
		var first []string
		for range 40 {
			first = append(first, redeem())
		}
		var (
			wg                   sync.WaitGroup
			mu                   sync.Mutex
			redeemed, rolledBack int
		)
		for i := range 80 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					if id := redeem(); id != "" {
						mu.Lock()
						redeemed++
						mu.Unlock()
					}
					return
				}
				r := s.do(t, "POST", "/v1/redemptions/"+first[i/2]+"/rollbacks", tn.bearer(), nil)
				if r.status >= 500 {
					t.Errorf("rollback: %d %s", r.status, r.body)
				}
				if r.status == http.StatusOK {
					mu.Lock()
					rolledBack++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		uses := 40 + redeemed - rolledBack
		var v struct {
			Gift struct {
				Balance int64 `json:"balance"`
			} `json:"gift"`
			Redemption struct {
				RedeemedQuantity int `json:"redeemed_quantity"`
			} `json:"redemption"`
		}
		s.do(t, "GET", "/v1/vouchers/"+card, tn.bearer(), nil).decode(t, &v)
		if v.Redemption.RedeemedQuantity != uses || v.Gift.Balance != 1000000-int64(uses)*700 {
			t.Fatalf("after %d redeemed and %d rolled back: %+v, want %d uses", 40+redeemed, rolledBack, v, uses)
		}
		// Each change's events commit with it, and only then.
		if n, m := len(outboxIDs(t, s, tn, "redemption.succeeded")), auditCount(t, s, tn, "redemption.succeeded"); n != 40+redeemed || m != n {
			t.Errorf("%d outbox and %d audit events of success; want %d", n, m, 40+redeemed)
		}
		if n, m := len(outboxIDs(t, s, tn, "redemption.rolled_back")), auditCount(t, s, tn, "redemption.rolled_back"); n != rolledBack || m != n {
			t.Errorf("%d outbox and %d audit events of rollback; want %d", n, m, rolledBack)
		}
	})
}

// R3: one Idempotency-Key, one execution.
func TestIdempotentRedemption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn, other := s.newTenant(t), s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, discountCampaign("Idem", 1, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		body := map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 1000}}
		h := tn.bearer()
		h["Idempotency-Key"] = "checkout-42"
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			bodies   = map[string]int{}
			statuses = map[int]int{}
		)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do(t, "POST", "/v1/redemptions", h, body)
				mu.Lock()
				defer mu.Unlock()
				statuses[r.status]++
				if r.status == http.StatusOK {
					bodies[string(r.body)]++
				}
			}()
		}
		wg.Wait()
		if statuses[http.StatusOK]+statuses[http.StatusConflict] != 50 || len(bodies) != 1 || statuses[http.StatusOK] < 1 {
			t.Fatalf("statuses %v, %d distinct bodies; want 200s with one body and 409s for requests in flight", statuses, len(bodies))
		}
		// Once finished, every repeat gets the identical reply.
		again := s.do(t, "POST", "/v1/redemptions", h, body)
		again.wantStatus(t, http.StatusOK)
		for b := range bodies {
			if b != string(again.body) {
				t.Fatalf("replay differs:\n%s\n%s", b, again.body)
			}
		}
		if n := countRows(t, s, tn.ID, "redemptions"); n != 2 {
			t.Fatalf("%d redemption rows, want one parent and one child", n)
		}
		body2 := map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 2000}}
		s.do(t, "POST", "/v1/redemptions", h, body2).wantError(t, http.StatusUnprocessableEntity, "idempotency_key_reused", "checkout-42")
		if n := countRows(t, s, tn.ID, "redemptions"); n != 2 {
			t.Fatalf("the reused key wrote: %d rows", n)
		}
		// The query string is part of the request: a rollback's reason too.
		var redeemed struct {
			Parent struct{ ID string } `json:"parent_redemption"`
		}
		again.decode(t, &redeemed)
		parent := redeemed.Parent
		rh := tn.bearer()
		rh["Idempotency-Key"] = "rollback-42"
		s.do(t, "POST", "/v1/redemptions/"+parent.ID+"/rollbacks?reason=returned", rh, nil).wantStatus(t, http.StatusOK)
		s.do(t, "POST", "/v1/redemptions/"+parent.ID+"/rollbacks?reason=fraud", rh, nil).wantError(t, http.StatusUnprocessableEntity, "idempotency_key_reused", "rollback-42")
		s.do(t, "POST", "/v1/redemptions/"+parent.ID+"/rollbacks?reason=returned", rh, nil).wantStatus(t, http.StatusOK)
		// The same key under another tenant is another key.
		_, otherCodes := campaignCodes(t, s, other, discountCampaign("Idem", 1, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		oh := other.bearer()
		oh["Idempotency-Key"] = "checkout-42"
		s.do(t, "POST", "/v1/redemptions", oh, map[string]any{"redeemables": vouchers(otherCodes[0]), "order": map[string]any{"amount": 1000}}).wantStatus(t, http.StatusOK)
		// A refusal is replayed too.
		h["Idempotency-Key"] = "bad-1"
		s.do(t, "POST", "/v1/redemptions", h, map[string]any{"redeemables": vouchers("NOPE"), "order": map[string]any{"amount": 1}}).wantStatus(t, http.StatusBadRequest)
		s.do(t, "POST", "/v1/redemptions", h, map[string]any{"redeemables": vouchers("NOPE"), "order": map[string]any{"amount": 1}}).wantStatus(t, http.StatusBadRequest)
	})
}

func TestRedemptionBadInputWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		campaignID, codes := campaignCodes(t, s, tn, discountCampaign("Bad", 2, map[string]any{"type": "AMOUNT", "amount_off": 100},
			map[string]any{"expiration_date": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}))
		_, expired := campaignCodes(t, s, tn, discountCampaign("Expired", 1, map[string]any{"type": "AMOUNT", "amount_off": 100},
			map[string]any{"start_date": "2020-01-01T00:00:00Z", "expiration_date": "2020-02-01T00:00:00Z"}))
		s.do(t, "POST", "/v1/campaigns/"+campaignID+"/disable", tn.bearer(), nil).wantStatus(t, http.StatusOK)
		_, live := campaignCodes(t, s, tn, discountCampaign("Live", 1, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		_, once := campaignCodes(t, s, tn, discountCampaign("Once each", 1, map[string]any{"type": "AMOUNT", "amount_off": 100},
			map[string]any{"limits": map[string]any{"per_customer": 1}}))
		_, gift := campaignCodes(t, s, tn, map[string]any{"name": "Gift", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 1, "voucher": map[string]any{"gift": map[string]any{"amount": 5000}}})
		before := writes(t, s, tn.ID)
		redemptionsBefore := countRows(t, s, tn.ID, "redemptions")
		items := make([]any, 1001)
		for i := range items {
			items[i] = map[string]any{"product_id": "p", "price": 100}
		}
		many := make([]string, 31)
		for i := range many {
			many[i] = fmt.Sprintf("CODE-%d", i)
		}
		cases := []struct {
			name, key, details string
			body               any
		}{
			{"unknown code", "resource_not_found", "NOPE", map[string]any{"redeemables": vouchers("NOPE"), "order": map[string]any{"amount": 100}}},
			{"disabled campaign", "campaign_disabled", codes[0], map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 100}}},
			{"expired campaign", "voucher_expired", expired[0], map[string]any{"redeemables": vouchers(expired[0]), "order": map[string]any{"amount": 100}}},
			{"wrong currency", "currency_mismatch", "USD", map[string]any{"redeemables": vouchers(live[0]), "order": map[string]any{"amount": 100, "currency": "USD"}}},
			{"negative amount", "", "order.amount", map[string]any{"redeemables": vouchers(live[0]), "order": map[string]any{"amount": -100}}},
			{"absurd amount", "", "order.amount", map[string]any{"redeemables": vouchers(live[0]), "order": map[string]any{"amount": int64(1) << 60}}},
			{"fractional amount", "", "amount", map[string]any{"redeemables": vouchers(live[0]), "order": map[string]any{"amount": 10.5}}},
			{"1,001 items", "", "order.items", map[string]any{"redeemables": vouchers(live[0]), "order": map[string]any{"items": items}}},
			{"more redeemables than the stacking limit", "too_many_redeemables", "redeemables", map[string]any{"redeemables": vouchers(many...), "order": map[string]any{"amount": 100}}},
			{"the same code twice", "duplicated_redeemables", "twice", map[string]any{"redeemables": vouchers(live[0], live[0]), "order": map[string]any{"amount": 100}}},
			{"no redeemables", "", "redeemables", map[string]any{"redeemables": []any{}, "order": map[string]any{"amount": 100}}},
			{"unknown object", "", "object", map[string]any{"redeemables": []any{map[string]any{"object": "coupon", "id": "X"}}}},
			{"malformed JSON", "", "body", `{"redeemables": [`},
			{"per-customer limit, no customer", "missing_customer", "", map[string]any{"redeemables": vouchers(once[0]), "order": map[string]any{"amount": 100}}},
			{"per-customer limit, unknown customer id", "missing_customer", "", map[string]any{"redeemables": vouchers(once[0]), "order": map[string]any{"amount": 100},
				"customer": map[string]any{"id": "cust_00000000000000000000000000"}}},
			// A new source_id would create its customer, but only with a redemption.
			{"expired campaign, new customer", "voucher_expired", expired[0], map[string]any{"redeemables": vouchers(expired[0]), "order": map[string]any{"amount": 100},
				"customer": map[string]any{"source_id": "brand-new"}}},
			{"customer source_id too long", "", "customer.source_id", map[string]any{"redeemables": vouchers(live[0]), "order": map[string]any{"amount": 100},
				"customer": map[string]any{"source_id": strings.Repeat("x", 256)}}},
			{"gift credits above the balance", "gift_amount_exceeded", "balance", map[string]any{"order": map[string]any{"amount": 100000},
				"redeemables": []any{map[string]any{"object": "voucher", "id": gift[0], "gift": map[string]any{"credits": 5001}}}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s.do(t, "POST", "/v1/redemptions", tn.bearer(), c.body).wantError(t, http.StatusBadRequest, c.key, c.details)
			})
		}
		after := writes(t, s, tn.ID)
		// Refused redemptions write their audit record and nothing else.
		after[0] = before[0]
		if after != before || countRows(t, s, tn.ID, "redemptions") != redemptionsBefore {
			t.Fatalf("refused redemptions wrote rows: %v → %v", before, after)
		}
	})
}

func TestRedemptionResponsesConformToVoucherify(t *testing.T) {
	vs := voucherifySchemas(t, "validations.json")
	rs := voucherifySchemas(t, "redemptions.json")
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var cust struct{ ID string }
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "conform-1"}).decode(t, &cust)
		_, pct := campaignCodes(t, s, tn, discountCampaign("Ten", 1, map[string]any{"type": "PERCENT", "percent_off": 10}, map[string]any{"category": "general"}))
		_, gift := campaignCodes(t, s, tn, map[string]any{"name": "Gift", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 1, "voucher": map[string]any{"gift": map[string]any{"amount": 5000}}})
		req := map[string]any{
			"redeemables": []any{map[string]any{"object": "voucher", "id": pct[0]}, map[string]any{"object": "voucher", "id": gift[0], "gift": map[string]any{"credits": 1000}},
				map[string]any{"object": "voucher", "id": "NOPE"}},
			"order":    map[string]any{"amount": 20000, "items": []any{map[string]any{"product_id": "p1", "quantity": 2, "price": 10000}}},
			"customer": map[string]any{"id": cust.ID},
		}
		v := s.do(t, "POST", "/v1/validations", tn.bearer(), req)
		v.wantStatus(t, http.StatusOK)
		conforms(t, vs, "ValidationsValidateResponseBody", v)
		// ALL (the default): the unknown code stops the other two, and the order
		// keeps its amounts.
		type applied struct {
			TotalApplied int64 `json:"total_applied_discount_amount"`
		}
		type listed struct {
			Status string   `json:"status"`
			ID     string   `json:"id"`
			Order  *applied `json:"order"`
			Result struct {
				Details *struct{ Key string } `json:"details"`
				Error   *struct{ Key string } `json:"error"`
			} `json:"result"`
		}
		type validated struct {
			Valid        bool     `json:"valid"`
			Redeemables  []listed `json:"redeemables"`
			Inapplicable []listed `json:"inapplicable_redeemables"`
			Skipped      []listed `json:"skipped_redeemables"`
			Order        struct {
				TotalDiscountAmount int64 `json:"total_discount_amount"`
				TotalApplied        int64 `json:"total_applied_discount_amount"`
			} `json:"order"`
		}
		var all validated
		v.decode(t, &all)
		if all.Valid || len(all.Redeemables) != 3 || len(all.Skipped) != 2 || len(all.Inapplicable) != 1 || all.Order.TotalDiscountAmount != 0 {
			t.Fatalf("ALL with an unknown code: %s", v.body)
		}
		for _, r := range all.Skipped {
			if r.Result.Details == nil || r.Result.Details.Key != "preceding_validation_failed" {
				t.Fatalf("skipped without preceding_validation_failed: %s", v.body)
			}
		}

		s.do(t, "PUT", "/v1/stacking-rules", tn.bearer(), map[string]any{"redeemables_application_mode": "PARTIAL"}).wantStatus(t, http.StatusOK)
		// A misspelt setting is refused, not left at its default with every
		// other setting reset.
		s.do(t, "PUT", "/v1/stacking-rules", tn.bearer(), map[string]any{"redeemables_aplication_mode": "ALL"}).
			wantError(t, http.StatusBadRequest, "", "redeemables_aplication_mode")
		if r := s.do(t, "GET", "/v1/stacking-rules", tn.bearer(), nil); !strings.Contains(string(r.body), `"redeemables_application_mode":"PARTIAL"`) {
			t.Fatalf("the refused update changed the rules: %s", r.body)
		}
		// PARTIAL: redeemables lists the applicable ones; the unknown code is
		// listed apart, in the validation and in the redemption.
		var part validated
		pv := s.do(t, "POST", "/v1/validations", tn.bearer(), req)
		conforms(t, vs, "ValidationsValidateResponseBody", pv)
		pv.decode(t, &part)
		if !part.Valid || len(part.Redeemables) != 2 || len(part.Inapplicable) != 1 || part.Inapplicable[0].ID != "NOPE" {
			t.Fatalf("PARTIAL with an unknown code: %s", pv.body)
		}
		var sum int64
		for _, r := range part.Redeemables {
			if r.Status != "APPLICABLE" || r.Order == nil {
				t.Fatalf("PARTIAL lists a %s redeemable among redeemables, or one without its order: %s", r.Status, pv.body)
			}
			sum += r.Order.TotalApplied
		}
		// Each applicable redeemable's order shows its own applied amounts; they add up.
		if sum != part.Order.TotalApplied || sum == 0 {
			t.Fatalf("the redeemables' applied amounts add up to %d, the order's are %d", sum, part.Order.TotalApplied)
		}
		r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), req)
		r.wantStatus(t, http.StatusOK)
		conforms(t, rs, "RedemptionsRedeemResponseBody", r)
		var partRedeemed struct {
			Inapplicable []listed `json:"inapplicable_redeemables"`
			Redemptions  []struct {
				Order *applied `json:"order"`
			} `json:"redemptions"`
		}
		r.decode(t, &partRedeemed)
		if len(partRedeemed.Inapplicable) != 1 || partRedeemed.Inapplicable[0].ID != "NOPE" {
			t.Fatalf("PARTIAL redemption without its inapplicable redeemable: %s", r.body)
		}
		sum = 0
		for _, ch := range partRedeemed.Redemptions {
			if ch.Order == nil {
				t.Fatalf("a child redemption without its order: %s", r.body)
			}
			sum += ch.Order.TotalApplied
		}
		if sum != part.Order.TotalApplied {
			t.Fatalf("the child redemptions' applied amounts add up to %d, want %d", sum, part.Order.TotalApplied)
		}
		var red struct {
			ParentRedemption struct{ ID string } `json:"parent_redemption"`
		}
		r.decode(t, &red)
		rb := s.do(t, "POST", "/v1/redemptions/"+red.ParentRedemption.ID+"/rollbacks?reason=returned", tn.bearer(), map[string]any{"metadata": map[string]any{"till": "7"}})
		rb.wantStatus(t, http.StatusOK)
		conforms(t, rs, "RedemptionsRollbacksCreateResponseBody", rb)
		type totals struct {
			Amount              int64 `json:"amount"`
			TotalDiscountAmount int64 `json:"total_discount_amount"`
			TotalAmount         int64 `json:"total_amount"`
		}
		var rbMeta struct {
			ParentRollback struct {
				ID       string         `json:"id"`
				Metadata map[string]any `json:"metadata"`
				Order    *totals        `json:"order"`
			} `json:"parent_rollback"`
			Order *totals `json:"order"`
		}
		rb.decode(t, &rbMeta)
		// The rollback shows the order it rolled back, as the redemption did.
		var redeemedOrder struct{ Order totals }
		r.decode(t, &redeemedOrder)
		if rbMeta.Order == nil || *rbMeta.Order != redeemedOrder.Order || rbMeta.ParentRollback.Order == nil || *rbMeta.ParentRollback.Order != redeemedOrder.Order {
			t.Fatalf("rollback order %+v, parent rollback's %+v; want the redemption's %+v", rbMeta.Order, rbMeta.ParentRollback.Order, redeemedOrder.Order)
		}
		var readBack struct {
			Metadata map[string]any `json:"metadata"`
			Channel  struct {
				ChannelID string `json:"channel_id"`
			} `json:"channel"`
		}
		s.do(t, "GET", "/v1/redemptions/"+rbMeta.ParentRollback.ID, tn.bearer(), nil).decode(t, &readBack)
		if rbMeta.ParentRollback.Metadata["till"] != "7" || readBack.Metadata["till"] != "7" {
			t.Fatalf("rollback metadata: answered %v, reads back %v", rbMeta.ParentRollback.Metadata, readBack.Metadata)
		}
		// The channel is the key that acted, whoever reads the record later.
		if readBack.Channel.ChannelID != tn.KeyID {
			t.Fatalf("rollback read back with channel %q, want the key %s", readBack.Channel.ChannelID, tn.KeyID)
		}
		// A gift card's redemption amounts to the credits it took; its rollback
		// gives them back, negative, as Voucherify shows them.
		type amounts struct {
			Amount int64                   `json:"amount"`
			Gift   *struct{ Amount int64 } `json:"gift"`
		}
		var redeemedAmounts struct{ Redemptions []amounts }
		var rolledBack struct{ Rollbacks []amounts }
		r.decode(t, &redeemedAmounts)
		rb.decode(t, &rolledBack)
		giftOf := func(as []amounts) (amounts, bool) {
			for _, a := range as {
				if a.Gift != nil {
					return a, true
				}
			}
			return amounts{}, false
		}
		if a, ok := giftOf(redeemedAmounts.Redemptions); !ok || a.Amount != 1000 || a.Gift.Amount != 1000 {
			t.Fatalf("gift card redemption amounts %+v, want 1000 and gift 1000", redeemedAmounts)
		}
		if a, ok := giftOf(rolledBack.Rollbacks); !ok || a.Amount != -1000 || a.Gift.Amount != -1000 {
			t.Fatalf("gift card rollback amounts %+v, want -1000 and gift -1000", rolledBack)
		}

		list := s.do(t, "GET", "/v1/redemptions?limit=100", tn.bearer(), nil)
		list.wantStatus(t, http.StatusOK)
		conforms(t, rs, "RedemptionsListResponseBody", list)
		var l struct {
			Redemptions []struct {
				ID     string `json:"id"`
				Object string `json:"object"`
				Status string `json:"status"`
			} `json:"redemptions"`
		}
		list.decode(t, &l)
		// A parent and two children, each rolled back, and their three rollbacks.
		if len(l.Redemptions) != 6 {
			t.Fatalf("listed %d records: %s", len(l.Redemptions), list.body)
		}
		one := s.do(t, "GET", "/v1/redemptions/"+red.ParentRedemption.ID, tn.bearer(), nil)
		one.wantStatus(t, http.StatusOK)
		conforms(t, rs, "RedemptionsGetResponseBody", one)
		// The parent reads back with the order it stored, item discounts included.
		type storedOrder struct {
			Channel struct {
				ChannelID string `json:"channel_id"`
			} `json:"channel"`
			Order *struct {
				TotalAmount         int64 `json:"total_amount"`
				TotalDiscountAmount int64 `json:"total_discount_amount"`
				Items               []struct {
					DiscountAmount int64 `json:"discount_amount"`
				} `json:"items"`
			} `json:"order"`
		}
		var got, want storedOrder
		one.decode(t, &got)
		r.decode(t, &want)
		if got.Order == nil || want.Order == nil || got.Order.TotalAmount != want.Order.TotalAmount ||
			got.Order.TotalDiscountAmount != want.Order.TotalDiscountAmount || len(got.Order.Items) != len(want.Order.Items) {
			t.Fatalf("the parent reads back with order %s; the redemption answered %s", one.body, r.body)
		}
		if got.Channel.ChannelID != tn.KeyID {
			t.Fatalf("the parent reads back with channel %q, want the key %s", got.Channel.ChannelID, tn.KeyID)
		}
		var filtered struct {
			Redemptions []struct{ Object string } `json:"redemptions"`
		}
		s.do(t, "GET", "/v1/redemptions?object=redemption_rollback&customer="+cust.ID, tn.bearer(), nil).decode(t, &filtered)
		if len(filtered.Redemptions) != 3 || filtered.Redemptions[0].Object != "redemption_rollback" {
			t.Fatalf("rollbacks of the customer: %+v", filtered)
		}
		s.do(t, "GET", "/v1/redemptions?status=PENDING", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "status")

		// Voucherify's paging: page numbers, the total of every match, sorts, and
		// campaigns and customers named as Voucherify names them.
		type listing struct {
			Redemptions []struct {
				ID     string `json:"id"`
				Object string `json:"object"`
			} `json:"redemptions"`
			Total   int  `json:"total"`
			HasMore bool `json:"has_more"`
		}
		var p1, p2, oldest listing
		s.do(t, "GET", "/v1/redemptions?limit=4", tn.bearer(), nil).decode(t, &p1)
		s.do(t, "GET", "/v1/redemptions?limit=4&page=2", tn.bearer(), nil).decode(t, &p2)
		if len(p1.Redemptions) != 4 || !p1.HasMore || p1.Total != 6 || len(p2.Redemptions) != 2 || p2.HasMore || p2.Total != 6 {
			t.Fatalf("pages of 4: %+v then %+v; want 4 of 6 with more, then 2 of 6", p1, p2)
		}
		seen := map[string]bool{}
		for _, r := range append(p1.Redemptions, p2.Redemptions...) {
			seen[r.ID] = true
		}
		if len(seen) != 6 {
			t.Fatalf("two pages list %d distinct records, want 6", len(seen))
		}
		s.do(t, "GET", "/v1/redemptions?order=created_at&limit=1", tn.bearer(), nil).decode(t, &oldest)
		if len(oldest.Redemptions) != 1 || oldest.Redemptions[0].ID != l.Redemptions[len(l.Redemptions)-1].ID {
			t.Fatalf("oldest first: %+v, want %s", oldest, l.Redemptions[len(l.Redemptions)-1].ID)
		}
		var bySource, byName listing
		s.do(t, "GET", "/v1/redemptions?customer=conform-1&object=redemption", tn.bearer(), nil).decode(t, &bySource)
		s.do(t, "GET", "/v1/redemptions?campaign=Ten", tn.bearer(), nil).decode(t, &byName)
		if bySource.Total != 3 || byName.Total != 2 {
			t.Fatalf("by source_id %d records (want the parent and two children), by campaign name %d (want the child and its rollback)", bySource.Total, byName.Total)
		}
		s.do(t, "GET", "/v1/redemptions?page=100", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "page")
		s.do(t, "GET", "/v1/redemptions?order=amount", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "order")
		s.do(t, "GET", "/v1/redemptions?order=customer_id&starting_after="+p1.Redemptions[0].ID, tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "starting_after")
	})
}

// A voucher assigned to a customer is redeemable by that customer only.
func TestAssignedVouchers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var ada, bob struct{ ID string }
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "ada"}).decode(t, &ada)
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "bob"}).decode(t, &bob)
		campaignID, codes := campaignCodes(t, s, tn, discountCampaign("Personal", 2, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		var pub struct {
			CustomerID string `json:"customer_id"`
			Voucher    struct {
				Code     string `json:"code"`
				HolderID string `json:"holder_id"`
			} `json:"voucher"`
		}
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"source_id": "ada"}, "voucher": codes[0]}).decode(t, &pub)
		if pub.CustomerID != ada.ID || pub.Voucher.HolderID != ada.ID {
			t.Fatalf("publication: %+v", pub)
		}
		order := map[string]any{"amount": 1000}
		var v validation
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": order, "customer": map[string]any{"id": bob.ID}}).decode(t, &v)
		if v.Valid || v.Redeemables[0].Result.Error.Key != "customer_mismatch" || v.Redeemables[0].Result.Error.Rule != "voucher.holder_id" {
			t.Fatalf("another customer: %+v", v)
		}
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": order}).decode(t, &v)
		if v.Valid {
			t.Fatalf("no customer: %+v", v)
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": order, "customer": map[string]any{"source_id": "ada"}}).
			wantStatus(t, http.StatusOK)
		// Assigning it again to someone else is refused; from a campaign, the next free code is taken.
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": bob.ID}, "voucher": codes[0]}).
			wantError(t, http.StatusConflict, "voucher_already_assigned", codes[0])
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": bob.ID}, "campaign": map[string]any{"id": campaignID}}).decode(t, &pub)
		if pub.Voucher.Code != codes[1] || pub.Voucher.HolderID != bob.ID {
			t.Fatalf("next free code: %+v", pub)
		}
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": bob.ID}, "campaign": map[string]any{"name": "Personal"}}).
			wantError(t, http.StatusBadRequest, "no_voucher_available", "Personal")
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": "cust_nobody"}, "voucher": codes[1]}).wantStatus(t, http.StatusNotFound)
	})
}

// Promotion tiers apply without a code: the tier whose rules hold is applicable,
// redeemable and rolled back like a voucher, against its campaign's limits.
func TestPromotionTiers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var promo struct {
			ID        string `json:"id"`
			Promotion struct {
				Tiers []struct {
					ID        string `json:"id"`
					Hierarchy int    `json:"hierarchy"`
				} `json:"tiers"`
			} `json:"promotion"`
		}
		s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Spend more", "campaign_type": "PROMOTION",
			"limits": map[string]any{"total_redemptions": 1},
			"promotion": map[string]any{"tiers": []any{
				map[string]any{"name": "10% over 100.00", "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": 10}},
					"rules": map[string]any{"min_order_amount": 10000}},
				map[string]any{"name": "5% on anything", "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": 5}}},
			}}}).decode(t, &promo)
		if len(promo.Promotion.Tiers) != 2 || promo.Promotion.Tiers[0].Hierarchy != 1 {
			t.Fatalf("promotion: %+v", promo)
		}
		big, small := promo.Promotion.Tiers[0].ID, promo.Promotion.Tiers[1].ID
		tiers := func(ids ...string) []any {
			out := make([]any, len(ids))
			for i, id := range ids {
				out[i] = map[string]any{"object": "promotion_tier", "id": id}
			}
			return out
		}
		var v validation
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": tiers(big), "order": map[string]any{"amount": 5000}}).decode(t, &v)
		if v.Valid || v.Redeemables[0].Result.Error.Rule != "rules.min_order_amount" {
			t.Fatalf("the 100.00 tier on a 50.00 order: %+v", v)
		}
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": tiers(big), "order": map[string]any{"amount": 20000}}).decode(t, &v)
		if !v.Valid || v.Order.TotalDiscountAmount != 2000 {
			t.Fatalf("the 100.00 tier on a 200.00 order: %+v", v)
		}
		r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": tiers(small), "order": map[string]any{"amount": 4000}})
		r.wantStatus(t, http.StatusOK)
		var red struct {
			ParentRedemption struct{ ID string } `json:"parent_redemption"`
			Redemptions      []struct {
				RelatedObjectType string `json:"related_object_type"`
				RelatedObjectID   string `json:"related_object_id"`
			} `json:"redemptions"`
		}
		r.decode(t, &red)
		if red.Redemptions[0].RelatedObjectType != "promotion_tier" || red.Redemptions[0].RelatedObjectID != small {
			t.Fatalf("redemption of a tier: %s", r.body)
		}
		// The campaign allows one redemption in all.
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": tiers(big), "order": map[string]any{"amount": 20000}}).
			wantError(t, http.StatusBadRequest, "limit_exceeded", big)
		s.do(t, "POST", "/v1/redemptions/"+red.ParentRedemption.ID+"/rollbacks", tn.bearer(), nil).wantStatus(t, http.StatusOK)
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": tiers(big), "order": map[string]any{"amount": 20000}}).wantStatus(t, http.StatusOK)
		// A disabled tier does not apply; the campaign's tiers are listed in order.
		s.do(t, "POST", "/v1/promotions/tiers/"+small+"/disable", tn.bearer(), nil).wantStatus(t, http.StatusOK)
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": tiers(small), "order": map[string]any{"amount": 4000}}).decode(t, &v)
		if v.Valid {
			t.Fatalf("a disabled tier applied: %+v", v)
		}
		var list struct {
			Tiers []struct{ ID string } `json:"tiers"`
		}
		s.do(t, "GET", "/v1/promotions/"+promo.ID+"/tiers", tn.bearer(), nil).decode(t, &list)
		if len(list.Tiers) != 2 || list.Tiers[0].ID != big {
			t.Fatalf("tiers: %+v", list)
		}
		for _, bad := range []map[string]any{
			{"name": "No tiers", "campaign_type": "PROMOTION"},
			{"name": "Codes", "campaign_type": "PROMOTION", "vouchers_count": 3, "promotion": map[string]any{"tiers": []any{map[string]any{"name": "x", "action": map[string]any{"discount": map[string]any{"type": "AMOUNT", "amount_off": 1}}}}}},
			{"name": "No discount", "campaign_type": "PROMOTION", "promotion": map[string]any{"tiers": []any{map[string]any{"name": "x"}}}},
		} {
			s.do(t, "POST", "/v1/campaigns", tn.bearer(), bad).wantStatus(t, http.StatusBadRequest)
		}
	})
}

func TestQualifications(t *testing.T) {
	qs := voucherifySchemas(t, "qualifications.json")
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var ada, bob struct{ ID string }
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "ada"}).decode(t, &ada)
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "bob"}).decode(t, &bob)
		s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Tiers", "campaign_type": "PROMOTION",
			"promotion": map[string]any{"tiers": []any{
				map[string]any{"name": "Ten over 100", "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": 10}}, "rules": map[string]any{"min_order_amount": 10000}},
				map[string]any{"name": "Five", "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": 5}}},
			}}}).wantStatus(t, http.StatusOK)
		_, codes := campaignCodes(t, s, tn, discountCampaign("Wallet", 3, map[string]any{"type": "AMOUNT", "amount_off": 500}, nil))
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": ada.ID}, "voucher": codes[0]}).wantStatus(t, http.StatusOK)
		s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": bob.ID}, "voucher": codes[1]}).wantStatus(t, http.StatusOK)

		type found struct {
			Redeemables struct {
				Data []struct {
					ID     string `json:"id"`
					Object string `json:"object"`
					Name   string `json:"name"`
					Order  struct {
						Amount              int64 `json:"amount"`
						TotalDiscountAmount int64 `json:"total_discount_amount"`
						TotalAmount         int64 `json:"total_amount"`
					} `json:"order"`
				} `json:"data"`
				HasMore bool `json:"has_more"`
			} `json:"redeemables"`
			Order struct {
				Amount      int64 `json:"amount"`
				TotalAmount int64 `json:"total_amount"`
			} `json:"order"`
		}
		r := s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": map[string]any{"source_id": "ada"}, "order": map[string]any{"amount": 20000}})
		r.wantStatus(t, http.StatusOK)
		conforms(t, qs, "QualificationsCheckEligibilityResponseBody", r)
		var q found
		r.decode(t, &q)
		var got []string
		for _, d := range q.Redeemables.Data {
			got = append(got, fmt.Sprintf("%s:%d", d.Object, d.Order.TotalDiscountAmount))
		}
		// Newest first (Voucherify's DEFAULT sorting): the wallet's voucher, then the
		// promotion's tiers, created together, in their hierarchy.
		if fmt.Sprint(got) != "[voucher:500 promotion_tier:2000 promotion_tier:1000]" || q.Redeemables.Data[0].ID != codes[0] {
			t.Fatalf("ALL for ada on 200.00: %v", got)
		}
		// The order as sent, and as each redeemable alone would leave it.
		if first := q.Redeemables.Data[1].Order; q.Order.Amount != 20000 || q.Order.TotalAmount != 20000 || first.Amount != 20000 || first.TotalAmount != 18000 {
			t.Fatalf("order totals: %+v, first %+v", q.Order, first)
		}
		// On 50.00 the 100.00 tier does not qualify, and 5.00 off beats 5%.
		var best found
		s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": map[string]any{"id": ada.ID}, "order": map[string]any{"amount": 5000},
			"options": map[string]any{"limit": 1, "sorting_rule": "BEST_DEAL"}}).decode(t, &best)
		if len(best.Redeemables.Data) != 1 || best.Redeemables.Data[0].ID != codes[0] || !best.Redeemables.HasMore {
			t.Fatalf("best on 50.00, limit 1: %+v", best)
		}
		var wallet found
		s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": map[string]any{"id": bob.ID}, "order": map[string]any{"amount": 5000},
			"scenario": "CUSTOMER_WALLET"}).decode(t, &wallet)
		if len(wallet.Redeemables.Data) != 1 || wallet.Redeemables.Data[0].ID != codes[1] {
			t.Fatalf("bob's wallet: %+v", wallet)
		}
		// AUDIENCE_ONLY judges the customer alone: on 50.00 the 100.00 tier
		// qualifies too, and so does the wallet's voucher.
		var audience found
		s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": map[string]any{"id": ada.ID}, "order": map[string]any{"amount": 5000},
			"scenario": "AUDIENCE_ONLY"}).decode(t, &audience)
		got = nil
		for _, d := range audience.Redeemables.Data {
			got = append(got, d.Object+":"+d.Name)
		}
		if fmt.Sprint(got) != "[voucher: promotion_tier:Ten over 100 promotion_tier:Five]" || audience.Redeemables.Data[0].ID != codes[0] {
			t.Fatalf("audience only for ada on 50.00: %v", got)
		}
		s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"scenario": "EVERYTHING"}).wantError(t, http.StatusBadRequest, "", "scenario")
		// Filters Punchcard does not serve are refused, not ignored.
		s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": map[string]any{"id": ada.ID}, "order": map[string]any{"amount": 5000},
			"options": map[string]any{"filters": map[string]any{"resource_type": map[string]any{"conditions": map[string]any{"$in": []string{"voucher"}}}}}}).
			wantError(t, http.StatusBadRequest, "", "options.filters")
	})
}

// TestQualificationPages pages through a customer's qualified redeemables as a
// Voucherify client does: newest first, each page from the created_at of the last
// redeemable of the one before, never splitting redeemables created together.
func TestQualificationPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var ada struct{ ID string }
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "ada"}).decode(t, &ada)
		var want []string // newest first
		for i := 1; i <= 5; i++ {
			code := fmt.Sprintf("WALLET-%d", i)
			s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": code, "type": "DISCOUNT_VOUCHER",
				"discount": map[string]any{"type": "AMOUNT", "amount_off": i * 100}}).wantStatus(t, http.StatusOK)
			s.do(t, "POST", "/v1/publications", tn.bearer(), map[string]any{"customer": map[string]any{"id": ada.ID}, "voucher": code}).wantStatus(t, http.StatusOK)
			want = append([]string{code}, want...)
		}
		tiers := []any{}
		for i := 1; i <= 3; i++ {
			tiers = append(tiers, map[string]any{"name": fmt.Sprintf("Tier %d", i), "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": i}}})
		}
		s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Tiers", "campaign_type": "PROMOTION",
			"promotion": map[string]any{"tiers": tiers}}).wantStatus(t, http.StatusOK)
		want = append([]string{"Tier 1", "Tier 2", "Tier 3"}, want...)

		type page struct {
			Redeemables struct {
				Data []struct {
					ID        string    `json:"id"`
					Name      string    `json:"name"`
					CreatedAt time.Time `json:"created_at"`
					Order     struct {
						TotalDiscountAmount int64 `json:"total_discount_amount"`
					} `json:"order"`
				} `json:"data"`
				HasMore           bool       `json:"has_more"`
				MoreStartingAfter *time.Time `json:"more_starting_after"`
			} `json:"redeemables"`
		}
		qualify := func(options map[string]any) page {
			var p page
			s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": map[string]any{"id": ada.ID},
				"order": map[string]any{"amount": 20000}, "options": options}).decode(t, &p)
			return p
		}
		var got, sizes []string
		options := map[string]any{"limit": 2}
		for range 10 {
			p := qualify(options)
			sizes = append(sizes, fmt.Sprint(len(p.Redeemables.Data)))
			for _, d := range p.Redeemables.Data {
				got = append(got, cmp.Or(d.Name, d.ID))
			}
			if !p.Redeemables.HasMore {
				break
			}
			// The client's cursor, as Voucherify documents it: the last one's created_at.
			last := p.Redeemables.Data[len(p.Redeemables.Data)-1]
			if p.Redeemables.MoreStartingAfter == nil || !p.Redeemables.MoreStartingAfter.Equal(last.CreatedAt) {
				t.Fatalf("more_starting_after %v, want the last created_at %v", p.Redeemables.MoreStartingAfter, last.CreatedAt)
			}
			options = map[string]any{"limit": 2, "starting_after": last.CreatedAt.Format(time.RFC3339Nano)}
		}
		// The three tiers, created together, fill the first page whole.
		if fmt.Sprint(got) != fmt.Sprint(want) || strings.Join(sizes, ",") != "3,2,2,1" {
			t.Fatalf("pages of 2 (sizes %v): %v, want %v", sizes, got, want)
		}

		best := qualify(map[string]any{"limit": 2, "sorting_rule": "BEST_DEAL"})
		if len(best.Redeemables.Data) != 2 || best.Redeemables.Data[0].Name != "Tier 3" || best.Redeemables.Data[1].ID != "WALLET-5" || !best.Redeemables.HasMore {
			t.Fatalf("BEST_DEAL, limit 2: %+v, want Tier 3 (6.00) then WALLET-5 (5.00)", best)
		}
		// A promotion of more tiers than one read takes, created together: one page
		// holds them all, and nothing is left.
		many := []any{}
		for i := range 60 {
			many = append(many, map[string]any{"name": fmt.Sprintf("Many %02d", i), "action": map[string]any{"discount": map[string]any{"type": "AMOUNT", "amount_off": 1}}})
		}
		s.do(t, "POST", "/v1/campaigns", tn.bearer(), map[string]any{"name": "Many", "campaign_type": "PROMOTION",
			"promotion": map[string]any{"tiers": many}}).wantStatus(t, http.StatusOK)
		var all page
		s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"scenario": "AUDIENCE_ONLY",
			"order": map[string]any{"amount": 20000}, "options": map[string]any{"limit": 50}}).decode(t, &all)
		if n := len(all.Redeemables.Data); n != 60 || !all.Redeemables.HasMore || all.Redeemables.Data[59].Name != "Many 59" {
			t.Fatalf("60 tiers created together, limit 50: %d returned (has_more %v), want all 60 and more after them", n, all.Redeemables.HasMore)
		}
		least := qualify(map[string]any{"limit": 1, "sorting_rule": "LEAST_DEAL"})
		if len(least.Redeemables.Data) != 1 || least.Redeemables.Data[0].Name != "Many 00" {
			t.Fatalf("LEAST_DEAL, limit 1: %+v, want Many 00 (0.01, the first of the newest)", least)
		}
		for field, options := range map[string]map[string]any{
			"options.sorting_rule":   {"sorting_rule": "RANDOM"},
			"options.starting_after": {"starting_after": "yesterday"},
		} {
			s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": map[string]any{"id": ada.ID}, "options": options}).
				wantError(t, http.StatusBadRequest, "", field)
		}
	})
}

// centVoucher creates a standalone voucher code taking 1 off any order.
func centVoucher(t *testing.T, s *server, tn tenant, code string) {
	t.Helper()
	s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": code, "type": "DISCOUNT_VOUCHER",
		"discount": map[string]any{"type": "AMOUNT", "amount_off": 1}}).wantStatus(t, http.StatusOK)
}

// newCustomer creates a customer and returns its id.
func newCustomer(t *testing.T, s *server, tn tenant, sourceID string) string {
	t.Helper()
	var c struct{ ID string }
	s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": sourceID}).decode(t, &c)
	if c.ID == "" {
		t.Fatalf("customer %q has no id", sourceID)
	}
	return c.ID
}

// The base fraud policy refuses a customer's 21st redemption within an hour.
func TestFraudVelocity(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		custID := newCustomer(t, s, tn, "busy")
		centVoucher(t, s, tn, "AGAIN")
		body := map[string]any{"redeemables": vouchers("AGAIN"), "order": map[string]any{"amount": 100}, "customer": map[string]any{"id": custID}}
		for range 20 {
			s.do(t, "POST", "/v1/redemptions", tn.bearer(), body).wantStatus(t, http.StatusOK)
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), body).wantError(t, http.StatusBadRequest, "velocity_exceeded", "AGAIN")
		// Another customer is not slowed down.
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers("AGAIN"), "order": map[string]any{"amount": 100}}).wantStatus(t, http.StatusOK)
	})
}

// Validations are counted per customer per minute, and failed ones per customer
// per ten minutes, each within its tenant; anonymous requests (whose address is
// the brand's server) are not counted.
func TestFraudValidationCounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn, other := s.newTenant(t), s.newTenant(t)
		eager := map[string]any{"id": newCustomer(t, s, tn, "eager")}
		centVoucher(t, s, tn, "LOOK")
		centVoucher(t, s, other, "LOOK")
		key := func(v validation) string {
			if len(v.Redeemables) != 1 {
				t.Fatalf("validation: %+v", v)
			}
			return v.Redeemables[0].Result.Error.Key
		}
		for i := range 60 {
			if v := validateCode(t, s, tn, "LOOK", eager, 100); !v.Valid {
				t.Fatalf("validation %d of the customer's first 60: %+v", i+1, v)
			}
		}
		if v := validateCode(t, s, tn, "LOOK", eager, 100); v.Valid || key(v) != "velocity_exceeded" {
			t.Fatalf("61st validation in a minute: %+v, want velocity_exceeded", v)
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers("LOOK"), "order": map[string]any{"amount": 100}, "customer": eager}).
			wantError(t, http.StatusBadRequest, "velocity_exceeded", "LOOK")
		// Without the customer the request is not slowed down.
		if v := validateCode(t, s, tn, "LOOK", nil, 100); !v.Valid {
			t.Fatalf("validation without the customer: %+v", v)
		}

		// Thirty failed guesses by one customer stop the customer's next validation.
		guesser := map[string]any{"id": newCustomer(t, s, other, "guesser")}
		for i := range 30 {
			if v := validateCode(t, s, other, fmt.Sprintf("GUESS-%d", i), guesser, 100); v.Valid || key(v) != "resource_not_found" {
				t.Fatalf("guess %d: %+v", i+1, v)
			}
		}
		if v := validateCode(t, s, other, "LOOK", guesser, 100); v.Valid || key(v) != "too_many_failed_validations" {
			t.Fatalf("validation after 30 failures: %+v, want too_many_failed_validations", v)
		}
		// Anonymous failures, from the same address, count against no one.
		for i := range 30 {
			validateCode(t, s, other, fmt.Sprintf("ANON-%d", i), nil, 100)
		}
		if v := validateCode(t, s, other, "LOOK", nil, 100); !v.Valid {
			t.Fatalf("anonymous validation after anonymous failures: %+v", v)
		}
	})
}

// customerData is what the customer-data tests read back of a customer.
type customerData struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Email    string         `json:"email"`
	Metadata map[string]any `json:"metadata"`
}

// getCustomer reads the tenant's customer by id or source_id.
func getCustomer(t *testing.T, s *server, tn tenant, idOrSourceID string) (c customerData) {
	t.Helper()
	s.do(t, "GET", "/v1/customers/"+idOrSourceID, tn.bearer(), nil).decode(t, &c)
	return c
}

// A redemption's customer object carries the customer's data, as in Voucherify:
// a redemption creates a new customer with it and writes what it changes on a
// known one; a validation writes nothing, but decides with the data; bad data is a
// 400 naming the field, and nothing is written.
func TestRedemptionCarriesCustomerData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, discountCampaign("Gold only", 1, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		publish(t, s, tn, "eligibility", map[string]any{"modules": map[string]any{"gold.rego": `package punchcard.eligibility

deny contains {"code": "gold_only", "message": "Gold members only.", "rule": "tenant.gold_only"} if {
	not input.customer.metadata.tier == "gold"
}
`}})
		body := func(customer map[string]any) map[string]any {
			return map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 1000}, "customer": customer}
		}
		ada := func() customerData { return getCustomer(t, s, tn, "ada") }
		redeem := func(customer map[string]any) {
			s.do(t, "POST", "/v1/redemptions", tn.bearer(), body(customer)).wantStatus(t, http.StatusOK)
		}
		// The policy reads the request's data: without it the new customer is no gold member.
		if v := validateCode(t, s, tn, codes[0], map[string]any{"source_id": "ada"}, 1000); !inapplicable(v, "gold_only") {
			t.Fatalf("validation without customer data: %+v, want gold_only", v)
		}
		gold := map[string]any{"source_id": "ada", "name": "Ada Lovelace", "email": "ada@example.com", "metadata": map[string]any{"tier": "gold"}}
		if v := validateCode(t, s, tn, codes[0], gold, 1000); !v.Valid {
			t.Fatalf("validation with customer data metadata.tier gold refused: %+v", v)
		}
		s.do(t, "GET", "/v1/customers/ada", tn.bearer(), nil).wantError(t, http.StatusNotFound, "", "")

		// A redemption creates the customer with its data.
		redeem(gold)
		c := ada()
		if c.Name != "Ada Lovelace" || c.Email != "ada@example.com" || c.Metadata["tier"] != "gold" {
			t.Fatalf("customer created by the redemption = %+v, want the request's name, email and metadata", c)
		}
		if n := auditCount(t, s, tn, "customer.created"); n != 1 {
			t.Fatalf("%d customer.created audit events, want 1", n)
		}

		// Data that changes nothing writes nothing; a change is written, and what
		// the request leaves out stays.
		redeem(gold)
		if n := auditCount(t, s, tn, "customer.updated"); n != 0 {
			t.Fatalf("unchanged customer data: %d customer.updated audit events, want 0", n)
		}
		redeem(map[string]any{"id": c.ID, "metadata": map[string]any{"tier": "gold", "since": "2026"}})
		if after := ada(); after.Name != "Ada Lovelace" || after.Email != "ada@example.com" || after.Metadata["since"] != "2026" {
			t.Fatalf("customer after a redemption with new metadata = %+v, want the metadata replaced and the rest kept", after)
		}
		if n := auditCount(t, s, tn, "customer.updated"); n != 1 {
			t.Fatalf("%d customer.updated audit events, want 1", n)
		}

		// A redemption's data fails the policy: refused, and the customer keeps its data.
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), body(map[string]any{"source_id": "ada", "metadata": map[string]any{"tier": "silver"}})).
			wantError(t, http.StatusBadRequest, "gold_only", "")
		if after := ada(); after.Metadata["tier"] != "gold" {
			t.Fatalf("a refused redemption changed the customer: %+v", after)
		}

		// Bad data: 400 naming the field; no customer, no redemption.
		redemptions := countRows(t, s, tn.ID, "redemptions")
		for field, bad := range map[string]map[string]any{
			"customer.email":     {"source_id": "bob", "email": "not an address", "metadata": map[string]any{"tier": "gold"}},
			"customer.birthdate": {"source_id": "bob", "birthdate": "2999-01-01", "metadata": map[string]any{"tier": "gold"}},
			"customer.name":      {"source_id": "bob", "name": strings.Repeat("n", 201), "metadata": map[string]any{"tier": "gold"}},
			"customer.source_id": {"email": "bob@example.com", "metadata": map[string]any{"tier": "gold"}},
		} {
			s.do(t, "POST", "/v1/redemptions", tn.bearer(), body(bad)).wantError(t, http.StatusBadRequest, "", field)
		}
		s.do(t, "GET", "/v1/customers/bob", tn.bearer(), nil).wantError(t, http.StatusNotFound, "", "")
		if got := countRows(t, s, tn.ID, "redemptions"); got != redemptions {
			t.Fatalf("bad customer data wrote redemptions: %d rows, want %d", got, redemptions)
		}
	})
}

// A request of more codes than one statement reads with their campaigns (five
// and more) reads the codes, then their campaigns once each: the campaigns
// still decide.
func TestManyCodesReadTheirCampaigns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, open := campaignCodes(t, s, tn, discountCampaign("Open", 5, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		closedID, closed := campaignCodes(t, s, tn, discountCampaign("Closed", 2, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		s.do(t, "POST", "/v1/campaigns/"+closedID+"/disable", tn.bearer(), nil).wantStatus(t, http.StatusOK)

		var v validation
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(open...), "order": map[string]any{"amount": 10000}}).decode(t, &v)
		if !v.Valid || len(v.Redeemables) != 5 || v.Order.TotalDiscountAmount != 500 {
			t.Fatalf("five codes of an open campaign: %+v", v)
		}
		var mixed validation
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(append(open[:4:4], closed...)...), "order": map[string]any{"amount": 10000}}).decode(t, &mixed)
		if mixed.Valid || len(mixed.Redeemables) != 6 {
			t.Fatalf("four open codes and two of a disabled campaign: %+v", mixed)
		}
		for _, r := range mixed.Redeemables {
			disabled := slices.Contains(closed, r.ID)
			if got := r.Status == "INAPPLICABLE" && r.Result.Error != nil && r.Result.Error.Key == "campaign_disabled"; got != disabled {
				t.Errorf("%s (of the disabled campaign: %v): %s %+v", r.ID, disabled, r.Status, r.Result.Error)
			}
		}
	})
}

// A rollback's customer data is saved on the customer it names, as Voucherify's
// rollback does; bad data, or an unknown customer id, refuses the rollback and
// writes nothing.
func TestRollbackCarriesCustomerData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, discountCampaign("Back", 1, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		var redeemed struct {
			ParentRedemption struct {
				ID string `json:"id"`
			} `json:"parent_redemption"`
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 1000},
			"customer": map[string]any{"source_id": "grace", "name": "Grace"}}).decode(t, &redeemed)
		path := "/v1/redemptions/" + redeemed.ParentRedemption.ID + "/rollbacks"
		grace := func() customerData { return getCustomer(t, s, tn, "grace") }
		updates := auditCount(t, s, tn, "customer.updated")

		s.do(t, "POST", path, tn.bearer(), map[string]any{"customer": map[string]any{"source_id": "grace", "email": "not-an-email"}}).
			wantError(t, http.StatusBadRequest, "", "customer.email")
		s.do(t, "POST", path, tn.bearer(), map[string]any{"customer": map[string]any{"id": "cust_00000000000000000000000000", "name": "Nobody"}}).
			wantError(t, http.StatusNotFound, "not_found", "cust_00000000000000000000000000")
		if c := grace(); c.Name != "Grace" || auditCount(t, s, tn, "customer.updated") != updates {
			t.Fatalf("refused rollbacks changed the customer: %+v", c)
		}

		s.do(t, "POST", path, tn.bearer(), map[string]any{"reason": "returned", "customer": map[string]any{"id": grace().ID,
			"name": "Grace Hopper", "email": "grace@example.com", "metadata": map[string]any{"returns": 1}}}).wantStatus(t, http.StatusOK)
		if c := grace(); c.Name != "Grace Hopper" || c.Email != "grace@example.com" || c.Metadata["returns"] != float64(1) {
			t.Fatalf("customer after the rollback = %+v, want the rollback's data", c)
		}
		if n := auditCount(t, s, tn, "customer.updated"); n != updates+1 {
			t.Fatalf("%d customer.updated audit events after the rollback, want %d", n, updates+1)
		}
		// The rollback that saved the data rolled the redemption back.
		s.do(t, "POST", path, tn.bearer(), nil).wantError(t, http.StatusBadRequest, "already_rolled_back", "")
	})
}

// GET /v1/redemptions lists newest first by time, whatever the kind of record:
// a redemption made after a rollback comes before it, and starting_after pages
// through that order without skipping a record.
func TestRedemptionListIsNewestFirst(t *testing.T) {
	rs := voucherifySchemas(t, "redemptions.json")
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, discountCampaign("Listed", 2, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		redeem := func(code string) string {
			var red struct {
				ParentRedemption struct{ ID string } `json:"parent_redemption"`
			}
			s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(code), "order": map[string]any{"amount": 1000}}).decode(t, &red)
			return red.ParentRedemption.ID
		}
		first := redeem(codes[0])
		var child struct {
			Redemptions []struct{ ID string } `json:"redemptions"`
		}
		s.do(t, "GET", "/v1/redemptions?parent_redemption="+first, tn.bearer(), nil).decode(t, &child)
		if len(child.Redemptions) != 1 {
			t.Fatalf("children of %s: %+v", first, child)
		}
		// Voucherify's single rollback, as its SDKs' rollback() calls it: the
		// parent's rollback alone; a child is rolled back through its parent.
		s.do(t, "POST", "/v1/redemptions/"+child.Redemptions[0].ID+"/rollback", tn.bearer(), nil).
			wantError(t, http.StatusBadRequest, "invalid_redemption_parent", first)
		one := s.do(t, "POST", "/v1/redemptions/"+first+"/rollback?reason=returned", tn.bearer(), nil)
		one.wantStatus(t, http.StatusOK)
		conforms(t, rs, "RedemptionsRollbackCreateResponseBody", one)
		var rolled struct{ Object, Redemption, Reason string }
		one.decode(t, &rolled)
		if rolled.Object != "redemption_rollback" || rolled.Redemption != first || rolled.Reason != "returned" {
			t.Fatalf("single rollback answered %s", one.body)
		}
		last := redeem(codes[1])
		type record struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"date"`
			Parent    *string   `json:"redemption"`
		}
		var all struct {
			Redemptions []record `json:"redemptions"`
		}
		s.do(t, "GET", "/v1/redemptions?limit=100", tn.bearer(), nil).decode(t, &all)
		if len(all.Redemptions) != 6 {
			t.Fatalf("%d records, want 6 (two redemptions and a rollback, each a parent and a child)", len(all.Redemptions))
		}
		newest := all.Redemptions[0]
		if newest.ID != last && (newest.Parent == nil || *newest.Parent != last) {
			t.Fatalf("newest record %+v; want one of the last redemption, %s", newest, last)
		}
		var paged []string
		for after := ""; ; {
			var page struct {
				Redemptions []record `json:"redemptions"`
				HasMore     bool     `json:"has_more"`
			}
			s.do(t, "GET", "/v1/redemptions?limit=1&starting_after="+after, tn.bearer(), nil).decode(t, &page)
			for _, r := range page.Redemptions {
				paged = append(paged, r.ID)
				after = r.ID
			}
			if !page.HasMore || len(paged) > 6 {
				break
			}
		}
		// Voucherify's filters: served, or refused naming the parameter, never ignored.
		for query, want := range map[string]int{
			"filters[voucher_code][conditions][$is]=" + codes[1]:                             1, // the last redemption's child
			"filters[object][conditions][$is]=redemption_rollback":                           2,
			"filters[object][conditions][$not_in]=redemption_rollback&filters[junction]=AND": 4,
			"filters[parent_redemption_id][conditions][$in]=" + first + "," + last:           2,
			"filters[parent_redemption_id][conditions][$in][0]=" + first:                     1,
			"filters[result][conditions][$is]=FAILURE":                                       0,
			"filters[result][conditions][$is]=SUCCESS":                                       6,
		} {
			var l struct {
				Redemptions []record `json:"redemptions"`
				Total       int      `json:"total"`
			}
			s.do(t, "GET", "/v1/redemptions?"+query, tn.bearer(), nil).decode(t, &l)
			if len(l.Redemptions) != want || l.Total != want {
				t.Errorf("%s: %d records (total %d), want %d", query, len(l.Redemptions), l.Total, want)
			}
		}
		for query, param := range map[string]string{
			"filters[amount][conditions][$is]=100":                "filters[amount][conditions][$is]",
			"filters[voucher_code][conditions][$starts_with]=ABC": "filters[voucher_code][conditions][$starts_with]",
			"filters[voucher_code]=ABC":                           "filters[voucher_code]",
			"filters[junction]=OR":                                "filters[junction]",
			"starting_after=r_01KZZZZZZZZZZZZZZZZZZZZZZZ":         "starting_after",
		} {
			s.do(t, "GET", "/v1/redemptions?"+query, tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", param)
		}
		for i, r := range all.Redemptions {
			if i > 0 && r.CreatedAt.After(all.Redemptions[i-1].CreatedAt) {
				t.Fatalf("record %d (%s, %v) is newer than the one before it", i, r.ID, r.CreatedAt)
			}
			if i >= len(paged) || paged[i] != r.ID {
				t.Fatalf("paging one at a time lists %v; the list is %+v", paged, all.Redemptions)
			}
		}
	})
}
