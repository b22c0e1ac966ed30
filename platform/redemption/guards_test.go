package redemption

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/policies"
)

type guardEnv struct {
	db       *db.DB
	tenantID string
	audit    *audit.Log
	camps    *campaigns.Service
}

func eachDB(t *testing.T, test func(t *testing.T, e *guardEnv)) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) { test(t, newGuardEnv(t, d, time.Now)) })
}

// newGuardEnv makes a tenant in d and the services that write its campaigns.
func newGuardEnv(t testing.TB, d *db.DB, now func() time.Time) *guardEnv {
	a := audit.New(d, now)
	return &guardEnv{db: d, tenantID: dbtest.Tenants(t, d, now, 1)[0], audit: a, camps: campaigns.NewService(d, a, now)}
}

// tenant is e's tenant as the engine takes it.
func (e *guardEnv) tenant() Tenant {
	return Tenant{ID: e.tenantID, Slug: "t", Currency: "EUR", Timezone: "Europe/Berlin"}
}

// engine is a redemption engine on e's database with the base policies, whose
// decisions may take as long as a loaded test machine needs (the production
// deadline would deny some under -race).
func (e *guardEnv) engine(tb testing.TB, now func() time.Time, tp trace.TracerProvider) *Engine {
	tb.Helper()
	pe, err := policies.New(policies.Options{TracerProvider: tp, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return NewEngine(e.db, NewSettings(e.db, e.audit, now), pe, e.audit, now, tp)
}

// campaign makes a campaign with one voucher of unlimited quantity and the given
// limits, whose discount is 1000 off.
func (e *guardEnv) campaign(t testing.TB, limits string) (campaigns.Campaign, campaigns.Voucher) {
	t.Helper()
	return e.coupon(t, `"voucher":{"discount":{"type":"AMOUNT","amount_off":1000}},"limits":`+limits)
}

// coupon makes a discount coupon campaign of one voucher from the members of
// its JSON body other than name, type and count.
func (e *guardEnv) coupon(t testing.TB, members string) (campaigns.Campaign, campaigns.Voucher) {
	t.Helper()
	return e.campaignOf(t, "DISCOUNT_COUPONS", members)
}

// campaignOf makes a campaign of the type with one voucher, from the members of
// its JSON body other than name, type and count.
func (e *guardEnv) campaignOf(t testing.TB, typ, members string) (campaigns.Campaign, campaigns.Voucher) {
	t.Helper()
	var in campaigns.CampaignInput
	js := `{"name":"c-` + ulid.Make().String() + `","campaign_type":"` + typ + `","vouchers_count":1,` + members + `}`
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatal(err)
	}
	c, err := e.camps.Create(context.Background(), e.tenantID, in)
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.camps.ListVouchers(context.Background(), e.tenantID, campaigns.VoucherFilter{Campaign: c.ID, Paging: campaigns.Paging{Limit: 1}})
	vs := l.Items
	if err != nil || len(vs) != 1 {
		t.Fatalf("voucher: %v", err)
	}
	return c, vs[0]
}

func (e *guardEnv) claimOf(c campaigns.Campaign, v campaigns.Voucher) claim {
	return claim{VoucherID: v.ID, Code: v.Code, CampaignID: c.ID, Limits: c.Limits, Discount: 1000, OrderAmount: 5000}
}

// redeemConcurrently runs n redemptions at once, customer(i) being the customer of
// the i-th, and counts successes and refusals by key.
func (e *guardEnv) redeemConcurrently(t *testing.T, n int, cl claim, customer func(int) string) (int64, map[string]int) {
	t.Helper()
	var ok atomic.Int64
	var mu sync.Mutex
	keys := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.inTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
				return applyClaims(ctx, e.db, tx, e.tenantID, customer(i), "2026-11-22", []claim{cl}, time.Now().UTC())
			})
			var r *refusal
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &r):
				mu.Lock()
				keys[r.Key+" "+r.Rule]++
				mu.Unlock()
			default:
				t.Errorf("redemption %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	return ok.Load(), keys
}

func (e *guardEnv) counters(t *testing.T, campaignID string) (redemptions, discount int64) {
	t.Helper()
	err := e.db.Read(context.Background(), e.tenantID, func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT redemptions_count, discount_total FROM campaigns WHERE tenant_id = ? AND id = ?", e.tenantID, campaignID).Scan(&redemptions, &discount)
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestGuardsHoldUnderConcurrency(t *testing.T) {
	eachDB(t, func(t *testing.T, e *guardEnv) {
		t.Run("first 500 customers", func(t *testing.T) {
			c, v := e.campaign(t, `{"total_redemptions":500}`)
			ok, keys := e.redeemConcurrently(t, 1000, e.claimOf(c, v), func(i int) string { return fmt.Sprintf("cust_%d", i) })
			if ok != 500 || keys["limit_exceeded limits.total_redemptions"] != 500 {
				t.Fatalf("%d succeeded, refusals %v; want exactly 500 and 500", ok, keys)
			}
			if n, d := e.counters(t, c.ID); n != 500 || d != 500*1000 {
				t.Fatalf("counters %d, %d", n, d)
			}
		})
		t.Run("discount budget", func(t *testing.T) {
			c, v := e.campaign(t, `{"total_discount_amount":30000}`)
			ok, keys := e.redeemConcurrently(t, 100, e.claimOf(c, v), func(i int) string { return fmt.Sprintf("cust_%d", i) })
			if ok != 30 || keys["limit_exceeded limits.total_discount_amount"] != 70 {
				t.Fatalf("%d succeeded, refusals %v; want 30", ok, keys)
			}
		})
		t.Run("per customer", func(t *testing.T) {
			c, v := e.campaign(t, `{"per_customer":3,"per_day":50}`)
			ok, keys := e.redeemConcurrently(t, 200, e.claimOf(c, v), func(i int) string { return fmt.Sprintf("cust_%d", i%20) })
			// 20 customers × 3 = 60, but the day allows 50.
			if ok != 50 || keys["limit_exceeded limits.per_day"]+keys["limit_exceeded limits.per_customer"] != 150 {
				t.Fatalf("%d succeeded, refusals %v; want 50", ok, keys)
			}
		})
		t.Run("voucher quantity and gift balance", func(t *testing.T) {
			c, v := e.campaign(t, `{}`)
			q := int64(7)
			err := e.db.InTx(context.Background(), e.tenantID, func(ctx context.Context, tx bun.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE vouchers SET redemption_quantity = ?, gift_amount = 10000, gift_balance = 10000 WHERE tenant_id = ? AND id = ?", q, e.tenantID, v.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			cl := e.claimOf(c, v)
			cl.GiftCredits = 2000
			ok, keys := e.redeemConcurrently(t, 50, cl, func(i int) string { return "" })
			// 7 uses allowed, but 10,000 of balance pays 5 × 2,000.
			if ok != 5 || keys["gift_amount_exceeded voucher.gift.balance"] != 45 {
				t.Fatalf("%d succeeded, refusals %v; want 5", ok, keys)
			}
		})
	})
}

// R2 at the guard level: redemptions and rollbacks racing on one campaign leave the
// counters at exactly redeemed − rolled back.
func TestRedeemAndRollbackRace(t *testing.T) {
	eachDB(t, func(t *testing.T, e *guardEnv) {
		c, v := e.campaign(t, `{"per_customer":1000}`)
		cl := e.claimOf(c, v)
		ctx := context.Background()
		for range 100 {
			if err := e.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				return applyClaims(ctx, e.db, tx, e.tenantID, "cust_1", "2026-11-22", []claim{cl}, time.Now().UTC())
			}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var redeemed, rolledBack atomic.Int64
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := e.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
					if i%2 == 0 {
						return applyClaims(ctx, e.db, tx, e.tenantID, "cust_1", "2026-11-22", []claim{cl}, time.Now().UTC())
					}
					return reverseClaims(ctx, e.db, tx, e.tenantID, "cust_1", "2026-11-22", []claim{cl}, time.Now().UTC())
				})
				if err != nil {
					t.Errorf("%d: %v", i, err)
					return
				}
				if i%2 == 0 {
					redeemed.Add(1)
				} else {
					rolledBack.Add(1)
				}
			}()
		}
		wg.Wait()
		want := 100 + redeemed.Load() - rolledBack.Load()
		if n, d := e.counters(t, c.ID); n != want || d != want*1000 {
			t.Fatalf("counters %d, %d; want %d", n, d, want)
		}
		var used, usage int64
		_ = e.db.Read(ctx, e.tenantID, func(ctx context.Context, tx bun.Tx) error {
			if err := tx.QueryRowContext(ctx, "SELECT redeemed_quantity FROM vouchers WHERE tenant_id = ? AND id = ?", e.tenantID, v.ID).Scan(&used); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, "SELECT count FROM redemption_usage WHERE tenant_id = ? AND campaign_id = ? AND customer_id = 'cust_1'", e.tenantID, c.ID).Scan(&usage)
		})
		if used != want || usage != want {
			t.Fatalf("voucher uses %d, customer usage %d; want %d", used, usage, want)
		}
	})
}

// Stacked vouchers of one campaign move its row once, by their sum: their guards
// hold or fail together, and a rollback gives back exactly what they took.
func TestGuardsSumClaimsOfOneCampaign(t *testing.T) {
	eachDB(t, func(t *testing.T, e *guardEnv) {
		ctx := context.Background()
		redeem := func(claims []claim) error {
			return e.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				return applyClaims(ctx, e.db, tx, e.tenantID, "cust_1", "2026-11-22", claims, time.Now().UTC())
			})
		}
		pair := func(t *testing.T, limits string) (campaigns.Campaign, []claim) {
			c, v1 := e.campaign(t, limits)
			vs, err := e.camps.AddVouchers(ctx, e.tenantID, c.ID, 1)
			if err != nil || len(vs) != 1 {
				t.Fatalf("second voucher: %v", err)
			}
			return c, []claim{e.claimOf(c, v1), e.claimOf(c, vs[0])}
		}
		refusedBy := func(t *testing.T, err error, rule string) {
			t.Helper()
			var r *refusal
			if !errors.As(err, &r) || r.Key != keyLimitExceeded || r.Rule != rule {
				t.Fatalf("got %v; want limit_exceeded by %s", err, rule)
			}
		}

		t.Run("total redemptions", func(t *testing.T) {
			c, claims := pair(t, `{"total_redemptions":3}`)
			if err := redeem(claims); err != nil {
				t.Fatal(err)
			}
			if n, d := e.counters(t, c.ID); n != 2 || d != 2000 {
				t.Fatalf("counters %d, %d; want 2, 2000", n, d)
			}
			// 2 + 2 > 3: neither is taken, though one alone would fit.
			refusedBy(t, redeem(claims), "limits.total_redemptions")
			if n, _ := e.counters(t, c.ID); n != 2 {
				t.Fatalf("counter %d after a refusal; want 2", n)
			}
			if err := redeem(claims[:1]); err != nil {
				t.Fatal(err)
			}
			err := e.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				return reverseClaims(ctx, e.db, tx, e.tenantID, "cust_1", "2026-11-22", claims, time.Now().UTC())
			})
			if err != nil {
				t.Fatal(err)
			}
			if n, d := e.counters(t, c.ID); n != 1 || d != 1000 {
				t.Fatalf("counters %d, %d after the rollback; want 1, 1000", n, d)
			}
		})
		t.Run("total order amount", func(t *testing.T) {
			// Both vouchers apply to one order of 5000: the campaign's order total
			// grows by 5000, not 10000, and a rollback takes back the same.
			c, claims := pair(t, `{"total_order_amount":12000}`)
			orderTotal := func() (n int64) {
				t.Helper()
				err := e.db.Read(ctx, e.tenantID, func(ctx context.Context, tx bun.Tx) error {
					return tx.QueryRowContext(ctx, "SELECT order_total FROM campaigns WHERE tenant_id = ? AND id = ?", e.tenantID, c.ID).Scan(&n)
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			for range 2 {
				if err := redeem(claims); err != nil {
					t.Fatal(err)
				}
			}
			if n := orderTotal(); n != 10000 {
				t.Fatalf("order total %d after two orders of 5000; want 10000", n)
			}
			refusedBy(t, redeem(claims), "limits.total_order_amount")
			err := e.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				return reverseClaims(ctx, e.db, tx, e.tenantID, "cust_1", "2026-11-22", claims, time.Now().UTC())
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := orderTotal(); n != 5000 {
				t.Fatalf("order total %d after rolling one order back; want 5000", n)
			}
		})
		t.Run("per customer, first use", func(t *testing.T) {
			// The customer's counter does not exist yet: two at once must not
			// create it above its limit.
			_, claims := pair(t, `{"per_customer":1}`)
			refusedBy(t, redeem(claims), "limits.per_customer")
			if err := redeem(claims[1:]); err != nil {
				t.Fatal(err)
			}
			refusedBy(t, redeem(claims[:1]), "limits.per_customer")
		})
	})
}

// applyClaims runs every guard of every claim in tx, as Redeem's batch does.
func applyClaims(ctx context.Context, d *db.DB, tx bun.IDB, tenantID, customerID, localDate string, claims []claim, now time.Time) error {
	var b db.Batch
	return write(ctx, d, tx, &b, addGuards(&b, tenantID, customerID, localDate, claims, now))
}

// reverseClaims runs addReturns' guards in tx, as Rollback's batch does.
func reverseClaims(ctx context.Context, d *db.DB, tx bun.IDB, tenantID, customerID, localDate string, claims []claim, now time.Time) error {
	var b db.Batch
	return write(ctx, d, tx, &b, addReturns(&b, tenantID, customerID, localDate, claims, now))
}

// inTx runs fn in a transaction of e's tenant and explains a guard that did not
// hold, as Redeem and Rollback do.
func (e *guardEnv) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return explain(ctx, e.db, e.tenantID, e.db.InTx(ctx, e.tenantID, fn))
}

// A customer the tenant does not know yet (a new source_id) has redeemed
// nothing: the campaign's own daily and monthly counters are not theirs. Once
// created by a redemption, their own counters hold.
func TestNewCustomersHaveNoUsage(t *testing.T) {
	eachDB(t, func(t *testing.T, env *guardEnv) {
		ctx := context.Background()
		_, v := env.campaign(t, `{"per_customer":1,"per_customer_per_day":1,"per_customer_per_month":1,"per_day":100,"per_month":100}`)
		e := env.engine(t, time.Now, noop.NewTracerProvider())
		tn := env.tenant()
		req := func(sourceID string) Request {
			return Request{Redeemables: []RedeemableRef{{Object: ObjectVoucher, ID: v.Code}},
				Order: &Order{Amount: 5000}, Customer: &CustomerRef{SourceID: sourceID}}
		}
		if _, err := e.Redeem(ctx, tn, req("alice"), nil); err != nil {
			t.Fatalf("alice's first redemption: %v", err)
		}
		res, err := e.Validate(ctx, tn, req("bob"))
		if err != nil || !res.Valid {
			t.Fatalf("validation for a new customer: valid %v, %v, outcome %+v", res.Valid, err, res.Outcomes)
		}
		if _, err := e.Redeem(ctx, tn, req("carol"), nil); err != nil {
			t.Fatalf("redemption for a new customer: %v", err)
		}
		res, err = e.Validate(ctx, tn, req("alice"))
		if err != nil || res.Valid || res.Outcomes[0].Reason == nil || res.Outcomes[0].Reason.Code != keyLimitExceeded {
			t.Fatalf("alice's second validation: valid %v, %v, outcome %+v; want limit_exceeded", res.Valid, err, res.Outcomes)
		}
	})
}
