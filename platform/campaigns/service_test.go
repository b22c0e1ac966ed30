package campaigns_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

type env struct {
	db        *db.DB
	audit     *audit.Log
	svc       *campaigns.Service
	acme, umb string

	mu  sync.Mutex
	now time.Time
}

// eachDB runs test on SQLite and, when configured, PostgreSQL, each with two fresh
// tenants and a clock that advances one second on every reading.
func eachDB(t *testing.T, test func(t *testing.T, e *env)) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := &env{db: d, now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
		e.audit = audit.New(d, e.clock)
		ids := dbtest.Tenants(t, d, e.clock, 2)
		e.acme, e.umb = ids[0], ids[1]
		e.svc = campaigns.NewService(d, e.audit, e.clock)
		test(t, e)
	})
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(time.Second)
	return e.now
}

func (e *env) count(t *testing.T, tenantID, table string) int {
	t.Helper()
	var n int
	err := e.db.Read(context.Background(), tenantID, func(ctx context.Context, tx bun.Tx) error {
		c, err := tx.NewSelect().Table(table).Where("tenant_id = ?", tenantID).Count(ctx)
		n = int(c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func input(t *testing.T, js string) campaigns.CampaignInput {
	t.Helper()
	var in campaigns.CampaignInput
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func wantKind(t *testing.T, err error, kind problem.Kind) {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Kind != kind {
		t.Fatalf("err = %v, want a %v problem", err, kind)
	}
}

func TestCreateGeneratesUniqueCodesAndAudits(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c, err := e.svc.Create(ctx, e.acme, input(t, `{"name":"Summer 15","campaign_type":"DISCOUNT_COUPONS","vouchers_count":500,
			"category":"general","limits":{"total_redemptions":500,"total_discount_amount":3000000},
			"rules":{"min_order_amount":5000,"channels":["online"]},
			"voucher":{"discount":{"type":"PERCENT","percent_off":15,"amount_limit":2000},"redemption":{"quantity":1},
			"code_config":{"pattern":"SUM-######","charset":"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.count(t, e.acme, "vouchers"); got != 500 {
			t.Fatalf("%d vouchers stored, want 500", got)
		}
		l, err := e.svc.ListVouchers(ctx, e.acme, campaigns.VoucherFilter{Campaign: c.ID, Paging: campaigns.Paging{Limit: 100}})
		if err != nil || len(l.Items) != 100 || !l.More || l.Total != 500 {
			t.Fatalf("first page: %d vouchers of %d, more=%v, %v", len(l.Items), l.Total, l.More, err)
		}
		vs := l.Items
		v := vs[0]
		if !strings.HasPrefix(v.Code, "SUM-") || len(v.Code) != 10 || v.Discount == nil || *v.Discount.PercentOff != 1500 ||
			v.RedemptionQuantity == nil || *v.RedemptionQuantity != 1 || v.Category != "general" || !v.Active {
			t.Fatalf("voucher does not follow its campaign: %+v", v)
		}
		got, err := e.svc.Voucher(ctx, e.acme, v.Code)
		if err != nil || got.ID != v.ID {
			t.Fatalf("voucher by code: %+v, %v", got, err)
		}
		byName, err := e.svc.Get(ctx, e.acme, "Summer 15")
		if err != nil || byName.ID != c.ID || *byName.Limits.TotalRedemptions != 500 || *byName.Rules.MinOrderAmount != 5000 {
			t.Fatalf("campaign by name: %+v, %v", byName, err)
		}
		evs, _, err := e.audit.List(ctx, e.acme, audit.Filter{ResourceID: c.ID, Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].Action != "campaign.created" {
			t.Fatalf("audit: %+v, %v", evs, err)
		}

		// Another tenant sees none of it, and may use the same name and codes.
		if _, err := e.svc.Get(ctx, e.umb, c.ID); err == nil {
			t.Fatal("another tenant reads the campaign")
		}
		if _, err := e.svc.Voucher(ctx, e.umb, v.Code); err == nil {
			t.Fatal("another tenant reads the voucher")
		}
		if _, err := e.svc.Create(ctx, e.umb, input(t, `{"name":"Summer 15","campaign_type":"GIFT_VOUCHERS","voucher":{"gift":{"amount":5000}}}`)); err != nil {
			t.Fatalf("same name in another tenant: %v", err)
		}
		if _, err := e.svc.CreateVoucher(ctx, e.umb, campaigns.VoucherInput{Code: v.Code, Type: campaigns.VoucherGift, Gift: &campaigns.Gift{Amount: 100}}); err != nil {
			t.Fatalf("same code in another tenant: %v", err)
		}

		// The name is unique per tenant, and a refused create writes nothing.
		before := e.count(t, e.acme, "audit_events")
		_, err = e.svc.Create(ctx, e.acme, input(t, `{"name":"Summer 15","campaign_type":"GIFT_VOUCHERS","vouchers_count":3,"voucher":{"gift":{"amount":5000}}}`))
		wantKind(t, err, problem.KindConflict)
		if e.count(t, e.acme, "vouchers") != 500 || e.count(t, e.acme, "audit_events") != before {
			t.Fatal("a refused create wrote rows")
		}
	})
}

func TestAddVouchersAndKillSwitch(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c, err := e.svc.Create(ctx, e.acme, input(t, `{"name":"Gift cards","campaign_type":"GIFT_VOUCHERS","vouchers_count":2,
			"voucher":{"gift":{"amount":5000},"code_config":{"length":12}}}`))
		if err != nil {
			t.Fatal(err)
		}
		added, err := e.svc.AddVouchers(ctx, e.acme, c.ID, 3)
		if err != nil || len(added) != 3 {
			t.Fatalf("added %d, %v", len(added), err)
		}
		for _, v := range added {
			if v.GiftAmount != 5000 || v.GiftBalance != 5000 || v.Type != campaigns.VoucherGift || len(v.Code) != 12 {
				t.Fatalf("gift voucher: %+v", v)
			}
		}
		after, _ := e.svc.Get(ctx, e.acme, c.ID)
		if after.VouchersCount != 5 || e.count(t, e.acme, "vouchers") != 5 {
			t.Fatalf("vouchers_count %d, stored %d, want 5", after.VouchersCount, e.count(t, e.acme, "vouchers"))
		}
		off, err := e.svc.SetActive(ctx, e.acme, c.ID, false)
		if err != nil || off.Active {
			t.Fatalf("disable: %+v, %v", off, err)
		}
		if got, _ := e.svc.Get(ctx, e.acme, c.ID); got.Active {
			t.Fatal("a disabled campaign reads as active")
		}
		if _, err := e.svc.SetActive(ctx, e.acme, c.ID, true); err != nil {
			t.Fatal(err)
		}
		v, err := e.svc.SetVoucherActive(ctx, e.acme, added[0].Code, false)
		if err != nil || v.Active {
			t.Fatalf("disable voucher: %+v, %v", v, err)
		}
		evs, _, _ := e.audit.List(ctx, e.acme, audit.Filter{ResourceID: c.ID, Limit: 10})
		var actions []string
		for _, ev := range evs {
			actions = append(actions, ev.Action)
		}
		if strings.Join(actions, ",") != "campaign.enabled,campaign.disabled,campaign.vouchers_added,campaign.created" {
			t.Fatalf("audit trail %v", actions)
		}
		_, err = e.svc.SetActive(ctx, e.umb, c.ID, false)
		wantKind(t, err, problem.KindNotFound)
	})
}

func TestStandaloneVouchers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		amount := int64(1000)
		v, err := e.svc.CreateVoucher(ctx, e.acme, campaigns.VoucherInput{Code: "WELCOME10", Type: campaigns.VoucherDiscount,
			Discount: &campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: &amount}})
		if err != nil || v.Code != "WELCOME10" || v.Discount.Effect != campaigns.EffectApplyToOrder {
			t.Fatalf("standalone: %+v, %v", v, err)
		}
		_, err = e.svc.CreateVoucher(ctx, e.acme, campaigns.VoucherInput{Code: "WELCOME10", Type: campaigns.VoucherGift, Gift: &campaigns.Gift{Amount: 1}})
		wantKind(t, err, problem.KindConflict)
		g, err := e.svc.CreateVoucher(ctx, e.acme, campaigns.VoucherInput{Type: campaigns.VoucherGift, Gift: &campaigns.Gift{Amount: 2500},
			CodeConfig: &campaigns.CodeConfig{Prefix: "GIFT-", Length: 10}})
		if err != nil || !strings.HasPrefix(g.Code, "GIFT-") || len(g.Code) != 15 || g.GiftBalance != 2500 {
			t.Fatalf("generated standalone: %+v, %v", g, err)
		}
		for _, bad := range []campaigns.VoucherInput{
			{Code: "has space", Type: campaigns.VoucherGift, Gift: &campaigns.Gift{Amount: 1}},
			{Code: "X", Type: "COUPON"},
			{Code: "Y", Type: campaigns.VoucherGift, Gift: &campaigns.Gift{Amount: -5}},
			{Code: "Z", Type: campaigns.VoucherDiscount},
		} {
			_, err := e.svc.CreateVoucher(ctx, e.acme, bad)
			wantKind(t, err, problem.KindInvalid)
		}
		if n := e.count(t, e.acme, "vouchers"); n != 2 {
			t.Fatalf("%d vouchers stored, want 2", n)
		}
	})
}
