package db_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
)

// touchCustomer names a customer. As a guard it holds when the customer exists.
var touchCustomer = db.NewRawStatement("UPDATE", "customers",
	"UPDATE customers SET name = ? WHERE tenant_id = ? AND id = ?")

// A batch writes all of itself or, when a guard does not hold, names that guard
// and leaves the transaction to roll back with nothing of it kept. WriteLast
// commits in the batch's own round trip on PostgreSQL: one statement's span for
// the inserts, the guards, the updates and the COMMIT.
func TestBatch(t *testing.T) {
	eachTraced(t, func(t *testing.T, name string, d *db.DB, rec *tracetest.SpanRecorder, _ *sdkmetric.ManualReader) {
		ctx := context.Background()
		tenant := dbtest.Tenants(t, d, time.Now, 1)[0]
		now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		insert := func(tx bun.IDB, id string) *bun.InsertQuery {
			return tx.NewInsert().Model(&customers.Customer{TenantID: tenant, ID: id, CreatedAt: now, UpdatedAt: now})
		}
		if err := d.InTx(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
			_, err := insert(tx, "cust_1").Exec(ctx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		names := func() map[string]string {
			t.Helper()
			var rows []customers.Customer
			if err := d.Read(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
				return tx.NewSelect().Model(&rows).Where("tenant_id = ?", tenant).Scan(ctx)
			}); err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, r := range rows {
				out[r.ID] = r.Name
			}
			return out
		}
		errRefused := errors.New("refused")

		t.Run("last, guards hold", func(t *testing.T) {
			before := len(rec.Ended())
			var held int
			err := d.InTx(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
				var b db.Batch
				b.Insert(insert(tx, "cust_2"), insert(tx, "cust_3"))
				b.Guard(touchCustomer, "guarded", tenant, "cust_1")
				b.Update(touchCustomer, "updated", tenant, "cust_none")
				b.Update(touchCustomer, "updated", tenant, "cust_2")
				var err error
				held, err = d.WriteLast(ctx, tx, &b)
				return err
			})
			if err != nil || held != -1 {
				t.Fatalf("WriteLast = %d, %v; want -1, nil", held, err)
			}
			want := map[string]string{"cust_1": "guarded", "cust_2": "updated", "cust_3": ""}
			if got := names(); !maps.Equal(got, want) {
				t.Fatalf("rows %v; want %v", got, want)
			}
			statements := 0
			for _, sp := range rec.Ended()[before:] {
				if strings.HasPrefix(sp.Name(), "INSERT") || strings.HasPrefix(sp.Name(), "UPDATE") || strings.Contains(attributes(t, sp)["db.query.text"], "punchcard_require") {
					statements++
				}
			}
			want1 := map[string]int{"postgres": 1, "sqlite": 5}[name]
			if statements != want1 {
				t.Errorf("%d statements; want %d", statements, want1)
			}
		})
		t.Run("last, a guard fails", func(t *testing.T) {
			var failed int
			err := d.InTx(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
				var b db.Batch
				b.Insert(insert(tx, "cust_4"))
				b.Guard(touchCustomer, "again", tenant, "cust_1")
				b.Guard(touchCustomer, "again", tenant, "cust_none")
				b.Update(touchCustomer, "again", tenant, "cust_3")
				var err error
				if failed, err = d.WriteLast(ctx, tx, &b); err == nil && failed >= 0 {
					err = errRefused
				}
				return err
			})
			if !errors.Is(err, errRefused) || failed != 1 {
				t.Fatalf("WriteLast = %d, %v; want guard 1 refused", failed, err)
			}
			want := map[string]string{"cust_1": "guarded", "cust_2": "updated", "cust_3": ""}
			if got := names(); !maps.Equal(got, want) {
				t.Fatalf("rows %v after a refused batch; want %v", got, want)
			}
		})
		t.Run("write, then more in the transaction", func(t *testing.T) {
			var failed int
			var n int
			err := d.InTx(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
				var b db.Batch
				b.Insert(insert(tx, "cust_5"))
				b.Guard(touchCustomer, "written", tenant, "cust_none")
				b.Guard(touchCustomer, "written", tenant, "cust_1")
				var err error
				if failed, err = d.Write(ctx, tx, &b); err != nil {
					return err
				}
				return tx.QueryRowContext(ctx, "SELECT count(*) FROM customers WHERE tenant_id = ? AND id = 'cust_5'", tenant).Scan(&n)
			})
			if err != nil || failed != 0 || n != 1 {
				t.Fatalf("Write = %d, %v, then %d rows; want guard 0 refused, the insert visible", failed, err, n)
			}
		})
		if name == "postgres" {
			t.Run("last, then an error", func(t *testing.T) {
				// The batch has committed: the error must not pass for a rollback.
				err := d.InTx(ctx, tenant, func(ctx context.Context, tx bun.Tx) error {
					var b db.Batch
					b.Insert(insert(tx, "cust_6"))
					b.Guard(touchCustomer, "late", tenant, "cust_1")
					if _, err := d.WriteLast(ctx, tx, &b); err != nil {
						return err
					}
					return errRefused
				})
				if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "committed") {
					t.Fatalf("InTx = %v; want the error and word that the batch committed", err)
				}
				if _, ok := names()["cust_6"]; !ok {
					t.Fatal("the committed batch's row is missing")
				}
			})
		}
	})
}
