package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
)

// Seal returns only when every event committed before it was called is sealed,
// even while another sealer (the background one, another node) races it on the
// same tenant and wins the chain's next sequence number with an older view of
// what is pending.
func TestSealCoversEveryEarlierEventWhileAnotherSealerRaces(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, time.Now)
		tenantID := dbtest.Tenants(t, d, time.Now, 1)[0]
		before, err := l.Verify(ctx, tenantID) // the tenant's creation is audited too
		if err != nil {
			t.Fatal(err)
		}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Seal(ctx, tenantID); err != nil {
					t.Errorf("background seal: %v", err)
					return
				}
			}
		})
		defer func() { close(stop); wg.Wait() }()

		// Two events at a time: the background sealer, having seen the first
		// pending, seals it alone while this Seal, which sees both, collides.
		for i := range 100 {
			if err := l.RecordAlone(ctx, tenantID, audit.Entry{Action: "test.recorded", ResourceType: "test", ResourceID: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
			if err := l.RecordAlone(ctx, tenantID, audit.Entry{Action: "test.recorded", ResourceType: "test", ResourceID: fmt.Sprint(i, "b")}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Seal(ctx, tenantID); err != nil {
				t.Fatalf("seal after event %d: %v", i, err)
			}
			var left int64
			err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				var err error
				left, err = tx.NewSelect().TableExpr("audit_pending").Where("tenant_id = ?", tenantID).Count(ctx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if left != 0 {
				t.Fatalf("after event %d and a seal that returned, %d events are still pending", i, left)
			}
		}
		if v, err := l.Verify(ctx, tenantID); err != nil || !v.Valid || v.Events != before.Events+200 {
			t.Fatalf("verify = %+v, %v; want a valid chain of %d", v, err, before.Events+200)
		}
	})
}

// An event queued again after it was sealed cannot be sealed twice: Seal says
// so, rather than reporting success or retrying forever.
func TestSealRefusesAnEventSealedTwice(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, time.Now)
		tenantID := dbtest.Tenants(t, d, time.Now, 1)[0]
		var eventID string
		err := d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
			ev, err := l.Record(ctx, tx, tenantID, audit.Entry{Action: "test.recorded", ResourceType: "test", ResourceID: "1"})
			if err == nil {
				eventID = ev.ID
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Seal(ctx, tenantID); err != nil {
			t.Fatal(err)
		}
		err = d.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO audit_pending (tenant_id, event_id) VALUES (?, ?)", tenantID, eventID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Seal(ctx, tenantID); err == nil {
			t.Fatal("sealing an event a second time succeeded")
		}
	})
}
