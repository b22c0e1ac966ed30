package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/platform/idempotency"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func eachDB(t *testing.T, test func(t *testing.T, s *idempotency.Store, c *dbtest.Clock, a, b string)) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		c := &dbtest.Clock{}
		ids := dbtest.Tenants(t, d, c.Now, 2)
		test(t, idempotency.New(d, c.Now), c, ids[0], ids[1])
	})
}

func key(t *testing.T, err error) string {
	t.Helper()
	var p *problem.Error
	if !errors.As(err, &p) {
		t.Fatalf("err = %v, want a problem", err)
	}
	return p.Key
}

// R3 at the store level.
func TestOneExecutionPerKey(t *testing.T) {
	eachDB(t, func(t *testing.T, s *idempotency.Store, c *dbtest.Clock, a, b string) {
		ctx := context.Background()
		h := idempotency.Hash("POST", "/v1/redemptions", []byte(`{"x":1}`))
		var (
			mu      sync.Mutex
			tickets []*idempotency.Ticket
			inUse   int
			wg      sync.WaitGroup
		)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk, reply, err := s.Begin(ctx, a, "order-42", h)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil && key(t, err) == "idempotency_key_in_use":
					inUse++
				case err != nil:
					t.Errorf("begin: %v", err)
				case reply != nil:
					t.Errorf("a reply before any request finished: %+v", reply)
				default:
					tickets = append(tickets, tk)
				}
			}()
		}
		wg.Wait()
		if len(tickets) != 1 || inUse != 49 {
			t.Fatalf("%d requests may run, %d told the key is in use; want 1 and 49", len(tickets), inUse)
		}
		if err := tickets[0].FinishAlone(ctx, 200, []byte(`{"id":"r_1"}`)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			tk, reply, err := s.Begin(ctx, a, "order-42", h)
			if err != nil || tk != nil || reply == nil || reply.Status != 200 || string(reply.Body) != `{"id":"r_1"}` {
				t.Fatalf("repeat: ticket %v reply %+v err %v", tk, reply, err)
			}
		}
		_, _, err := s.Begin(ctx, a, "order-42", idempotency.Hash("POST", "/v1/redemptions", []byte(`{"x":2}`)))
		if key(t, err) != "idempotency_key_reused" {
			t.Fatalf("another body: %v", err)
		}
		// Keys are per tenant.
		if tk, _, err := s.Begin(ctx, b, "order-42", h); err != nil || tk == nil {
			t.Fatalf("same key in another tenant: %v", err)
		}
		// After the retention period the key is new again.
		c.Add(idempotency.Retention + time.Minute)
		if tk, _, err := s.Begin(ctx, a, "order-42", idempotency.Hash("POST", "/v1/redemptions", []byte(`{"x":3}`))); err != nil || tk == nil {
			t.Fatalf("expired key: %v", err)
		}
	})
}

func TestAbandonedAndReleasedKeys(t *testing.T) {
	eachDB(t, func(t *testing.T, s *idempotency.Store, c *dbtest.Clock, a, _ string) {
		ctx := context.Background()
		h := idempotency.Hash("POST", "/v1/redemptions", []byte(`{}`))
		tk, _, err := s.Begin(ctx, a, "k1", h)
		if err != nil || tk == nil {
			t.Fatal(err)
		}
		if _, _, err := s.Begin(ctx, a, "k1", h); key(t, err) != "idempotency_key_in_use" {
			t.Fatalf("while running: %v", err)
		}
		c.Add(idempotency.Lease + time.Second)
		if _, _, err := s.Begin(ctx, a, "k1", idempotency.Hash("POST", "/v1/redemptions", []byte(`{"y":1}`))); key(t, err) != "idempotency_key_reused" {
			t.Fatalf("abandoned key with another body: %v", err)
		}
		retry, _, err := s.Begin(ctx, a, "k1", h)
		if err != nil || retry == nil {
			t.Fatalf("a retry takes an abandoned key over: %v", err)
		}
		if err := retry.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if again, _, err := s.Begin(ctx, a, "k1", h); err != nil || again == nil {
			t.Fatalf("after release: %v", err)
		}
		c.Add(idempotency.Retention + time.Hour)
		if n, err := s.Purge(ctx, a); err != nil || n != 1 {
			t.Fatalf("purge removed %d keys (%v), want 1", n, err)
		}
		for _, bad := range []string{"", strings.Repeat("k", 256), "a\nb"} {
			if _, _, err := s.Begin(ctx, a, bad, h); key(t, err) != "invalid_payload" {
				t.Fatalf("key %q: %v", bad, err)
			}
		}
	})
}

// Replies past Retention are purged, every tenant's; newer ones stay.
func TestRepliesArePurged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		c := &dbtest.Clock{}
		tenants := dbtest.Tenants(t, d, c.Now, 2)
		s := idempotency.New(d, c.Now)
		h := idempotency.Hash("POST", "/v1/redemptions", []byte(`{}`))
		finish := func(tenantID, key string) {
			t.Helper()
			ticket, _, err := s.Begin(ctx, tenantID, key, h)
			if err != nil || ticket == nil {
				t.Fatalf("begin %s: %v", key, err)
			}
			if err := ticket.FinishAlone(ctx, 200, []byte(`{"customer":"someone@example.com"}`)); err != nil {
				t.Fatal(err)
			}
		}
		for _, tn := range tenants {
			finish(tn, "old")
		}
		c.Add(idempotency.Retention + time.Minute)
		finish(tenants[0], "new")
		if _, err := s.PurgeAll(ctx); err != nil {
			t.Fatal(err)
		}
		count := func(tenantID, key string) (n int) {
			t.Helper()
			if err := d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
				return tx.QueryRowContext(ctx, "SELECT count(*) FROM idempotency_keys WHERE tenant_id = ? AND key = ?", tenantID, key).Scan(&n)
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count(tenants[0], "old") != 0 || count(tenants[1], "old") != 0 || count(tenants[0], "new") != 1 {
			t.Fatalf("after purging: old %d and %d, new %d; want 0, 0, 1", count(tenants[0], "old"), count(tenants[1], "old"), count(tenants[0], "new"))
		}
		if _, reply, err := s.Begin(ctx, tenants[0], "new", h); err != nil || reply == nil {
			t.Fatalf("the newer reply is not replayed: %v, %v", reply, err)
		}
	})
}
