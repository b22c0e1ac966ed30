package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
)

var (
	customersByID = db.NewStatement("SELECT", "customers", func(q bun.IDB, n int) string {
		return q.NewSelect().Model((*customers.Customer)(nil)).
			Where("c.tenant_id = ?", db.Placeholder).Where("c.id IN (?)", db.List(n)).OrderExpr("c.id").String()
	})
	customerCreatedAfter = db.NewStatement("SELECT", "customers", func(bun.IDB, int) string {
		return "SELECT count(*) FROM customers WHERE tenant_id = ? AND created_at > ?"
	})
)

// A Statement gives the same rows prepared as unprepared, within the
// transaction's tenant scope, on the reader, in ReadEach and on the
// (single-connection on SQLite) writer.
func TestStatementPreparedMatchesUnprepared(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		created := time.Date(2026, 12, 2, 10, 30, 0, 123456000, time.UTC)
		ts := dbtest.Tenants(t, d, time.Now, 2)
		a, b := ts[0], ts[1]
		for tenant, ids := range map[string][]string{a: {"cust_1", "cust_2"}, b: {"cust_3"}} {
			err := d.InTx(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
				for _, id := range ids {
					row := customers.Customer{TenantID: tenant, ID: id, Email: id + "@example.com", CreatedAt: created, UpdatedAt: created}
					if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}

		type runner func(ctx context.Context, tenant string, fn func(ctx context.Context, tx bun.IDB) error) error
		inTx := func(run func(context.Context, string, func(context.Context, bun.Tx) error) error) runner {
			return func(ctx context.Context, tenant string, fn func(ctx context.Context, tx bun.IDB) error) error {
				return run(ctx, tenant, func(ctx context.Context, tx bun.Tx) error { return fn(ctx, tx) })
			}
		}
		read, write := inTx(d.Read), inTx(d.InTx)
		check := func(t *testing.T, run runner) {
			t.Helper()
			err := run(ctx, a, func(ctx context.Context, tx bun.IDB) error {
				var rows []customers.Customer
				if err := customersByID.Scan(ctx, tx, &rows, 3, a, "cust_1", "cust_2", "cust_3"); err != nil {
					return err
				}
				got := []string{}
				for _, r := range rows {
					got = append(got, r.ID+" "+r.Email)
				}
				if want := []string{"cust_1 cust_1@example.com", "cust_2 cust_2@example.com"}; !slices.Equal(got, want) {
					t.Errorf("rows = %q, want %q", got, want)
				}
				// Longer lists: 12 is prepared as 16, its last id repeated; 65 runs
				// unprepared.
				for _, n := range []int{12, 65} {
					args := []any{a, "cust_1"}
					for i := range n - 2 {
						args = append(args, fmt.Sprintf("cust_missing_%d", i))
					}
					args = append(args, "cust_2")
					var long []customers.Customer
					if err := customersByID.Scan(ctx, tx, &long, n, args...); err != nil {
						return err
					}
					if len(long) != 2 || long[0].ID != "cust_1" || long[1].ID != "cust_2" {
						t.Errorf("a list of %d: %d rows %+v, want cust_1 and cust_2", n, len(long), long)
					}
				}
				var one customers.Customer
				if err := customersByID.Scan(ctx, tx, &one, 1, a, "cust_3"); !errors.Is(err, sql.ErrNoRows) {
					t.Errorf("another tenant's customer as a struct: %v, want sql.ErrNoRows", err)
				}
				if d.Dialect() == db.Postgres {
					// Row-level security holds for prepared statements too.
					if err := customersByID.Scan(ctx, tx, &one, 1, b, "cust_3"); !errors.Is(err, sql.ErrNoRows) {
						t.Errorf("another tenant's customer by its own tenant id: %v, want sql.ErrNoRows", err)
					}
				}
				for at, want := range map[time.Time]int64{created.Add(-time.Microsecond): 2, created: 0} {
					var n int64
					if err := customerCreatedAfter.Scan(ctx, tx, &n, 0, a, at); err != nil {
						return err
					}
					if n != want {
						t.Errorf("created after %s: %d, want %d", at, n, want)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}

		// The first runs are unprepared while the statements are prepared in
		// the background.
		check(t, read)
		check(t, d.ReadEach)
		deadline := time.Now().Add(10 * time.Second)
		for !db.PreparedOn(customersByID, d, 3) || !db.PreparedOn(customersByID, d, 1) || !db.PreparedOn(customersByID, d, 16) || !db.PreparedOn(customerCreatedAfter, d, 0) {
			if time.Now().After(deadline) {
				t.Fatal("statements not prepared after 10s")
			}
			check(t, read)
			time.Sleep(10 * time.Millisecond)
		}
		check(t, read)
		// ReadEach runs them prepared too, on SQLite outside a transaction; a
		// bun handle outside ReadEach runs them unprepared.
		check(t, d.ReadEach)
		if err := d.ReadEach(ctx, a, func(ctx context.Context, q bun.IDB) error {
			if !db.RunsPrepared(ctx, customersByID, q, 3) {
				t.Error("ReadEach runs a prepared statement unprepared")
			}
			if !db.RunsPrepared(ctx, customersByID, q, 12) || db.RunsPrepared(ctx, customersByID, q, 65) {
				t.Error("a list of 12 runs unprepared, or one of 65 prepared")
			}
			if db.RunsPrepared(context.Background(), customersByID, q, 3) {
				t.Error("a statement runs prepared outside Read, InTx and ReadEach")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			check(t, write)
		}
		if err := d.ReadEach(ctx, "", func(context.Context, bun.IDB) error { return nil }); !errors.Is(err, db.ErrNoTenant) {
			t.Fatalf("ReadEach without a tenant: %v, want ErrNoTenant", err)
		}
	})
}

// IN lists are prepared at their length up to 8, then at the next power of two
// up to MaxListArity.
func TestListArity(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 1, 8: 8, 9: 16, 16: 16, 17: 32, 33: 64, 64: 64} {
		if got := db.ListArity(n); got != want {
			t.Errorf("a list of %d is prepared at %d, want %d", n, got, want)
		}
	}
	if db.ListArity(db.MaxListArity) != db.MaxListArity {
		t.Errorf("MaxListArity %d is not a length lists are prepared at", db.MaxListArity)
	}
}

// Prepare readies a statement on the reader and the writer now, a list at the
// length it is prepared at.
func TestPrepare(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		tenant := dbtest.Tenants(t, d, time.Now, 1)[0]
		for n, s := range map[int]*db.Statement{0: customerCreatedAfter, 12: customersByID} {
			if err := d.Prepare(ctx, s, n); err != nil {
				t.Fatal(err)
			}
			if err := d.Prepare(ctx, s, n); err != nil { // again: nothing to do
				t.Fatal(err)
			}
			if !db.PreparedOn(s, d, db.ListArity(n)) {
				t.Errorf("a list of %d not prepared on the reader", n)
			}
			err := d.InTx(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
				if !db.RunsPrepared(ctx, s, tx, n) {
					t.Errorf("a list of %d not prepared on the writer", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
