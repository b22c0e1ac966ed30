package db_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
)

// urls returns the databases to test: SQLite always, PostgreSQL when
// PUNCHCARD_TEST_DATABASE_URL names one (the integration suite enforces it in CI).
func urls(t *testing.T) map[string]db.Options {
	out := map[string]db.Options{"sqlite": {DataDir: t.TempDir()}}
	if u := os.Getenv("PUNCHCARD_TEST_DATABASE_URL"); u != "" {
		out["postgres"] = db.Options{URL: u}
	}
	return out
}

func TestMigrateIsIdempotentAndReadyzSeesItCurrent(t *testing.T) {
	ctx := context.Background()
	for name, opts := range urls(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := db.Migrate(ctx, opts); err != nil {
				t.Fatal(err)
			}
			again, err := db.Migrate(ctx, opts)
			if err != nil || len(again.Applied) != 0 {
				t.Fatalf("second migrate applied %v (%v), want nothing", again.Applied, err)
			}
			d, err := db.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			pending, err := d.Pending(ctx)
			if err != nil || len(pending) != 0 {
				t.Fatalf("pending = %v, %v", pending, err)
			}
		})
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	for name, opts := range urls(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := db.Migrate(ctx, opts); err != nil {
				t.Fatal(err)
			}
			d, err := db.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.InTx(ctx, "", func(context.Context, bun.Tx) error { return nil }); !errors.Is(err, db.ErrNoTenant) {
				t.Fatalf("InTx without tenant = %v", err)
			}
			boom := errors.New("boom")
			tenantID := "ten_rollback_" + name
			err = d.InInstanceTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO tenants (id, slug, name, currency, timezone, status, created_at, updated_at) VALUES (?, ?, 'x', 'EUR', 'UTC', 'active', ?, ?)",
					tenantID, tenantID, "2026-01-01 00:00:00+00:00", "2026-01-01 00:00:00+00:00"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InInstanceTx = %v, want boom", err)
			}
			var n int
			err = d.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
				return tx.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE id = ?", tenantID).Scan(&n)
			})
			if err != nil || n != 0 {
				t.Fatalf("rolled-back row visible: n=%d err=%v", n, err)
			}
		})
	}
}
