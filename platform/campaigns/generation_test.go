package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/platform/jobs"
)

// The asynchronous generation of a new campaign's codes ends its
// vouchers_generation_status: FAILED when the action fails, not IN_PROGRESS for
// ever; an action adding codes later leaves the campaign's status alone. The
// actions run here directly, in the order the test needs: each is held (marked
// in progress under a lease far away) as soon as it is enqueued, since the
// workers of other tests' servers serve every tenant of a shared PostgreSQL
// database. One that such a worker took first is given up, and the scenario
// starts again with a new campaign.
func TestGenerationStatusEnds(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var clock dbtest.Clock
		tenantID := dbtest.Tenants(t, d, clock.Now, 1)[0]
		s := NewService(d, audit.New(d, clock.Now, slog.New(slog.DiscardHandler)), clock.Now)
		s.UseJobs(jobs.New(d, clock.Now, slog.New(slog.DiscardHandler)))
		step := func(ctx context.Context, work func(ctx context.Context, tx bun.Tx) (int64, error)) error {
			return d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				_, err := work(ctx, tx)
				return err
			})
		}
		run := func(id string) error {
			t.Helper()
			var a jobs.Action
			if err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				return tx.NewSelect().Model(&a).Where("tenant_id = ? AND id = ?", tenantID, id).Scan(ctx)
			}); err != nil {
				t.Fatal(err)
			}
			_, err := s.runGeneration(ctx, a, step)
			return err
		}
		hold := func(id string) bool {
			t.Helper()
			var n int64
			if err := d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				res, err := tx.NewUpdate().Model((*jobs.Action)(nil)).Set("status = ?", jobs.InProgress).
					Set("locked_until = ?", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)).
					Where("tenant_id = ? AND id = ? AND status = ?", tenantID, id, jobs.Enqueued).Exec(ctx)
				if err == nil {
					n, err = res.RowsAffected()
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return n == 1
		}
		actionOf := func(campaignID string) (id string) {
			t.Helper()
			if err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				return tx.QueryRowContext(ctx, "SELECT id FROM async_actions WHERE tenant_id = ? AND CAST(payload AS TEXT) LIKE ?", tenantID, "%"+campaignID+"%").Scan(&id)
			}); err != nil {
				t.Fatal(err)
			}
			return id
		}
		status := func(id string) (st string) {
			t.Helper()
			if err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				return tx.QueryRowContext(ctx, "SELECT vouchers_generation_status FROM campaigns WHERE tenant_id = ? AND id = ?", tenantID, id).Scan(&st)
			}); err != nil {
				t.Fatal(err)
			}
			return st
		}
		big := func(name string) CampaignInput {
			t.Helper()
			var in CampaignInput
			if err := json.Unmarshal(fmt.Appendf(nil, `{"name":%q,"campaign_type":"DISCOUNT_COUPONS","vouchers_count":%d,
				"voucher":{"discount":{"type":"AMOUNT","amount_off":100},"code_config":{"length":12}}}`, name, MaxSyncGeneration+1), &in); err != nil {
				t.Fatal(err)
			}
			return in
		}
		// scenario runs try until none of its actions was taken by another worker.
		scenario := func(name string, try func(attempt int) bool) {
			t.Helper()
			for attempt := range 5 {
				if try(attempt) {
					return
				}
			}
			t.Fatalf("%s: other workers took every attempt's actions", name)
		}

		scenario("a failed generation", func(attempt int) bool {
			broken, err := s.Create(ctx, tenantID, big(fmt.Sprint("Broken ", attempt)))
			if err != nil || broken.GenerationStatus != GenerationInProgress {
				t.Fatalf("create: %+v, %v", broken, err)
			}
			creation := actionOf(broken.ID)
			if !hold(creation) {
				return false
			}
			// Its stored voucher template no longer reads: every step fails.
			if err := d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE campaigns SET voucher = '"not a voucher"' WHERE tenant_id = ? AND id = ?`, tenantID, broken.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := run(creation); err == nil {
				t.Fatal("the generation of a broken campaign succeeded")
			}
			if st := status(broken.ID); st != GenerationFailed {
				t.Fatalf("after a failed generation the campaign is %s, want FAILED", st)
			}
			return true
		})

		scenario("an addition ending first", func(attempt int) bool {
			fine, err := s.Create(ctx, tenantID, big(fmt.Sprint("Fine ", attempt)))
			if err != nil {
				t.Fatal(err)
			}
			creation := actionOf(fine.ID)
			if !hold(creation) {
				return false
			}
			added, err := s.AddVouchersAsync(ctx, tenantID, fine.ID, 5)
			if err != nil {
				t.Fatal(err)
			}
			if !hold(added) {
				return false
			}
			if err := run(added); err != nil {
				t.Fatal(err)
			}
			if st := status(fine.ID); st != GenerationInProgress {
				t.Fatalf("with its first codes still generating, the campaign is %s after an addition ended", st)
			}
			if err := run(creation); err != nil {
				t.Fatal(err)
			}
			if st, n := status(fine.ID), countVouchers(t, d, tenantID, fine.ID); st != GenerationDone || n != MaxSyncGeneration+1+5 {
				t.Fatalf("after its generation the campaign is %s with %d codes", st, n)
			}
			return true
		})
	})
}

func countVouchers(t *testing.T, d *db.DB, tenantID, campaignID string) (n int) {
	t.Helper()
	if err := d.Read(context.Background(), tenantID, func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM vouchers WHERE tenant_id = ? AND campaign_id = ?", tenantID, campaignID).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
