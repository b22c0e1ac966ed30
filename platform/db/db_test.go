package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
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

// postgresURL is PUNCHCARD_TEST_DATABASE_URL, for a test of PostgreSQL alone:
// without it the test fails in CI and is skipped elsewhere.
func postgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("PUNCHCARD_TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("PUNCHCARD_TEST_DATABASE_URL must be set in CI")
		}
		tb.Skip("PUNCHCARD_TEST_DATABASE_URL is not set")
	}
	return u
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
			d := dbtest.Open(t, opts)
			if err := d.InTx(ctx, "", func(context.Context, bun.Tx) error { return nil }); !errors.Is(err, db.ErrNoTenant) {
				t.Fatalf("InTx without tenant = %v", err)
			}
			boom := errors.New("boom")
			tenantID := "ten_rollback_" + name
			err := d.InInstanceTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
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

// Closing a PostgreSQL DB closes its connections: opening and closing servers
// (tests, the load driver) must not pile up idle connections.
func TestCloseReleasesPostgresConnections(t *testing.T) {
	u := postgresURL(t)
	ctx := context.Background()
	if _, err := db.Migrate(ctx, db.Options{URL: u}); err != nil {
		t.Fatal(err)
	}
	// The connections this test opens carry an application name of their own,
	// so that other packages' tests sharing the database do not count.
	app := fmt.Sprintf("punchcard-close-test-%d", time.Now().UnixNano())
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	url := u + sep + "application_name=" + app
	probe, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	count := func() int {
		var n int
		if err := probe.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 3 {
		d, err := db.Open(ctx, db.Options{URL: url, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		// Hold all four connections at once, so that the pool opens them.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_ = d.Read(ctx, "ten_close", func(ctx context.Context, tx bun.Tx) error {
					_, err := tx.ExecContext(ctx, "SELECT pg_sleep(0.05)")
					return err
				})
			})
		}
		wg.Wait()
		if n := count(); n < 4 {
			t.Fatalf("%d connections open before closing, want 4", n)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after closing", count())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
