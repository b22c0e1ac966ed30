package campaigns

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/platform/jobs"
)

// The asynchronous generation of a new campaign's codes ends its
// vouchers_generation_status: FAILED when the action fails, not IN_PROGRESS for
// ever; an action adding codes later leaves the campaign's status alone. The
// generations run here directly, from actions made for the test, so that no
// queue (which serves every tenant of a shared test database) is involved.
func TestGenerationStatusEnds(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var clock dbtest.Clock
		tenantID := dbtest.Tenants(t, d, clock.Now, 1)[0]
		s := NewService(d, audit.New(d, clock.Now), clock.Now)
		step := func(ctx context.Context, work func(ctx context.Context, tx bun.Tx) (int64, error)) error {
			return d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				_, err := work(ctx, tx)
				return err
			})
		}
		run := func(g generation) error {
			t.Helper()
			payload, err := json.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.runGeneration(ctx, jobs.Action{TenantID: tenantID, ID: "aa_test", Payload: payload}, step)
			return err
		}
		scalar := func(dest any, q string, args ...any) {
			t.Helper()
			if err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				return tx.QueryRowContext(ctx, q, append([]any{tenantID}, args...)...).Scan(dest)
			}); err != nil {
				t.Fatal(err)
			}
		}
		status := func(id string) (st string) {
			t.Helper()
			scalar(&st, "SELECT vouchers_generation_status FROM campaigns WHERE tenant_id = ? AND id = ?", id)
			return st
		}
		// generating is a campaign of one code whose first codes are still to
		// generate, as an asynchronous creation leaves it: counting the codes
		// it asked for.
		generating := func(name string, count int) Campaign {
			t.Helper()
			var in CampaignInput
			if err := json.Unmarshal([]byte(`{"name":"`+name+`","campaign_type":"DISCOUNT_COUPONS","vouchers_count":1,
				"voucher":{"discount":{"type":"AMOUNT","amount_off":100},"code_config":{"length":12}}}`), &in); err != nil {
				t.Fatal(err)
			}
			c, err := s.Create(ctx, tenantID, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE campaigns SET vouchers_generation_status = ?, vouchers_count = ? WHERE tenant_id = ? AND id = ?",
					GenerationInProgress, count, tenantID, c.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return c
		}

		broken := generating("Broken", 1+5)
		// Its stored voucher template no longer reads: every step fails.
		if err := d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE campaigns SET voucher = '"not a voucher"' WHERE tenant_id = ? AND id = ?`, tenantID, broken.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := run(generation{CampaignID: broken.ID, Count: 5}); err == nil {
			t.Fatal("the generation of a broken campaign succeeded")
		}
		var counted int
		scalar(&counted, "SELECT vouchers_count FROM campaigns WHERE tenant_id = ? AND id = ?", broken.ID)
		if st := status(broken.ID); st != GenerationFailed || counted != 1 {
			t.Fatalf("after a failed generation the campaign is %s and counts %d codes, want FAILED with the 1 it has", st, counted)
		}

		fine := generating("Fine", 1+1500)
		// An addition ends first, as on another node.
		if err := run(generation{CampaignID: fine.ID, Count: 5, Add: true}); err != nil {
			t.Fatal(err)
		}
		if st := status(fine.ID); st != GenerationInProgress {
			t.Fatalf("with its first codes still generating, the campaign is %s after an addition ended", st)
		}
		if err := run(generation{CampaignID: fine.ID, Count: 1500}); err != nil {
			t.Fatal(err)
		}
		var n int
		scalar(&n, "SELECT count(*) FROM vouchers WHERE tenant_id = ? AND campaign_id = ?", fine.ID)
		scalar(&counted, "SELECT vouchers_count FROM campaigns WHERE tenant_id = ? AND id = ?", fine.ID)
		if st := status(fine.ID); st != GenerationDone || n != 1+5+1500 || counted != n {
			t.Fatalf("after its generation the campaign is %s with %d codes, counting %d", st, n, counted)
		}
	})
}
