package integration_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	_ "modernc.org/sqlite"

	"github.com/punchcard-loyalty/punchcard/platform/config"
)

// ownerDB opens the database the way an attacker with the owner's credentials (or
// the SQLite file) would: no serving role, no tenant scope.
func ownerDB(t *testing.T, s *server) *sql.DB {
	t.Helper()
	var (
		d   *sql.DB
		err error
	)
	if s.backend.url != "" {
		d, err = sql.Open("pgx", s.backend.url)
	} else {
		d, err = sql.Open("sqlite", "file:"+filepath.Join(s.dataDir, "punchcard.db")+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	d.SetMaxOpenConns(1)
	t.Cleanup(func() { d.Close() })
	return d
}

func ownerExec(t *testing.T, s *server, d *sql.DB, query string, args ...any) {
	t.Helper()
	if s.backend.url == "" {
		query = strings.ReplaceAll(query, "$1", "?")
		query = strings.ReplaceAll(query, "$2", "?")
	}
	if _, err := d.Exec(query, args...); err != nil {
		t.Fatalf("owner exec %q: %v", query, err)
	}
}

type auditEvent struct {
	ID       string `json:"id"`
	Action   string `json:"action"`
	Outcome  string `json:"outcome"`
	Actor    struct{ Type, ID string }
	Resource struct{ Type, ID string }
	TraceID  string `json:"trace_id"`
	Seal     *struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	} `json:"seal"`
}

type verification struct {
	Valid             bool   `json:"valid"`
	Events            int    `json:"events"`
	HeadHash          string `json:"head_hash"`
	FirstInvalidEvent string `json:"first_invalid_event"`
	Reason            string `json:"reason"`
}

func verify(t *testing.T, s *server, tn tenant) verification {
	t.Helper()
	var v verification
	r := s.do(t, "GET", "/v1/audit-events/verify", tn.bearer(), nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &v)
	return v
}

// chainOf returns the tenant's events oldest first, after sealing.
func chainOf(t *testing.T, s *server, tn tenant) []auditEvent {
	t.Helper()
	if v := verify(t, s, tn); !v.Valid {
		t.Fatalf("chain invalid before tampering: %+v", v)
	}
	var l struct {
		Data []auditEvent `json:"data"`
	}
	s.do(t, "GET", "/v1/audit-events?limit=100", tn.bearer(), nil).decode(t, &l)
	out := make([]auditEvent, len(l.Data))
	for i, e := range l.Data {
		out[len(l.Data)-1-i] = e
	}
	return out
}

func TestAuditTrailRecordsAndFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var c struct{ ID string }
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "aud-1", "email": "canary-audit@example.com"}).decode(t, &c)
		s.do(t, "PUT", "/v1/customers/"+c.ID, tn.bearer(), map[string]any{"name": "Grace"}).wantStatus(t, http.StatusOK)

		var l struct {
			Data       []auditEvent `json:"data"`
			HasMore    bool         `json:"has_more"`
			NextCursor *string      `json:"next_cursor"`
		}
		r := s.do(t, "GET", "/v1/audit-events?resource_type=customer&resource_id="+c.ID, tn.bearer(), nil)
		r.wantStatus(t, http.StatusOK)
		r.decode(t, &l)
		if len(l.Data) != 2 || l.Data[0].Action != "customer.updated" || l.Data[1].Action != "customer.created" {
			t.Fatalf("customer audit trail = %s", r.body)
		}
		for _, e := range l.Data {
			if e.Actor.Type != "api_key" || e.Actor.ID != tn.KeyID || e.Outcome != "success" || len(e.TraceID) != 32 {
				t.Fatalf("event lacks actor, outcome or trace id: %+v", e)
			}
		}
		if strings.Contains(string(r.body), "canary-audit@example.com") {
			t.Fatalf("audit events contain personal data: %s", r.body)
		}
		// Paging: one per page.
		p1 := s.do(t, "GET", "/v1/audit-events?limit=1", tn.bearer(), nil)
		p1.decode(t, &l)
		if len(l.Data) != 1 || !l.HasMore || l.NextCursor == nil {
			t.Fatalf("first page = %s", p1.body)
		}
		first := l.Data[0].ID
		s.do(t, "GET", "/v1/audit-events?limit=1&cursor="+*l.NextCursor, tn.bearer(), nil).decode(t, &l)
		if len(l.Data) != 1 || l.Data[0].ID >= first {
			t.Fatalf("second page does not continue the first")
		}
		// Filters by action and time; bad filter values are 400 naming the parameter.
		s.do(t, "GET", "/v1/audit-events?action=tenant.created", tn.bearer(), nil).decode(t, &l)
		if len(l.Data) != 1 {
			t.Fatalf("action filter returned %d events", len(l.Data))
		}
		s.do(t, "GET", "/v1/audit-events?to=2000-01-01T00:00:00Z", tn.bearer(), nil).decode(t, &l)
		if len(l.Data) != 0 {
			t.Fatalf("to filter returned %d events", len(l.Data))
		}
		s.do(t, "GET", "/v1/audit-events?from=yesterday", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "from")
		s.do(t, "GET", "/v1/audit-events?limit=1000", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "", "limit")

		// Export streams every event as NDJSON, oldest first.
		ex := s.do(t, "GET", "/v1/audit-events/export", tn.bearer(), nil)
		ex.wantStatus(t, http.StatusOK)
		lines := strings.Split(strings.TrimSpace(string(ex.body)), "\n")
		if len(lines) != 4 || !strings.Contains(lines[0], `"tenant.created"`) || !strings.Contains(lines[3], `"customer.updated"`) {
			t.Fatalf("export = %s", ex.body)
		}
		if v := verify(t, s, tn); !v.Valid || v.Events != 4 {
			t.Fatalf("verify = %+v", v)
		}
	})
}

func TestAuditTamperingIsDetected(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		setup := func(t *testing.T) (tenant, []auditEvent, *sql.DB) {
			tn := s.newTenant(t)
			for i := 0; i < 3; i++ {
				s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": fmt.Sprintf("tamper-%d", i)}).wantStatus(t, http.StatusOK)
			}
			evs := chainOf(t, s, tn)
			if len(evs) != 5 {
				t.Fatalf("want 5 events, got %d", len(evs))
			}
			d := ownerDB(t, s)
			if s.backend.url == "" {
				// The attacker holds the file: the append-only triggers do not stop them.
				// They are put back afterwards: the server is shared with other tests.
				for _, tr := range []string{"audit_events_no_update", "audit_events_no_delete", "audit_seals_no_update", "audit_seals_no_delete"} {
					var def string
					if err := d.QueryRow("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", tr).Scan(&def); err != nil {
						t.Fatalf("read trigger %s: %v", tr, err)
					}
					ownerExec(t, s, d, "DROP TRIGGER "+tr)
					t.Cleanup(func() { ownerExec(t, s, d, def) })
				}
			}
			return tn, evs, d
		}
		t.Run("edit", func(t *testing.T) {
			tn, evs, d := setup(t)
			ownerExec(t, s, d, "UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = $1 AND id = $2", tn.ID, evs[3].ID)
			v := verify(t, s, tn)
			if v.Valid || v.FirstInvalidEvent != evs[3].ID {
				t.Fatalf("verify after edit = %+v, want first invalid %s", v, evs[3].ID)
			}
		})
		t.Run("delete", func(t *testing.T) {
			tn, evs, d := setup(t)
			ownerExec(t, s, d, "DELETE FROM audit_events WHERE tenant_id = $1 AND id = $2", tn.ID, evs[2].ID)
			v := verify(t, s, tn)
			if v.Valid || v.FirstInvalidEvent != evs[2].ID {
				t.Fatalf("verify after delete = %+v, want first invalid %s", v, evs[2].ID)
			}
		})
		t.Run("delete with its seal", func(t *testing.T) {
			tn, evs, d := setup(t)
			ownerExec(t, s, d, "DELETE FROM audit_seals WHERE tenant_id = $1 AND event_id = $2", tn.ID, evs[2].ID)
			ownerExec(t, s, d, "DELETE FROM audit_events WHERE tenant_id = $1 AND id = $2", tn.ID, evs[2].ID)
			v := verify(t, s, tn)
			if v.Valid || v.FirstInvalidEvent != evs[3].ID {
				t.Fatalf("verify after deleting an event and its seal = %+v, want first invalid %s", v, evs[3].ID)
			}
		})
		t.Run("reorder", func(t *testing.T) {
			tn, evs, d := setup(t)
			a, b := evs[1].Seal.Seq, evs[2].Seal.Seq
			ownerExec(t, s, d, "UPDATE audit_seals SET seq = -seq WHERE tenant_id = $1 AND event_id = $2", tn.ID, evs[1].ID)
			ownerExec(t, s, d, fmt.Sprintf("UPDATE audit_seals SET seq = %d WHERE tenant_id = $1 AND event_id = $2", a), tn.ID, evs[2].ID)
			ownerExec(t, s, d, fmt.Sprintf("UPDATE audit_seals SET seq = %d WHERE tenant_id = $1 AND event_id = $2", b), tn.ID, evs[1].ID)
			v := verify(t, s, tn)
			if v.Valid || v.FirstInvalidEvent != evs[2].ID {
				t.Fatalf("verify after reordering = %+v, want first invalid %s", v, evs[2].ID)
			}
		})
		t.Run("insert outside the chain", func(t *testing.T) {
			tn, evs, d := setup(t)
			ownerExec(t, s, d, "INSERT INTO audit_events (tenant_id, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id, outcome) "+
				"SELECT tenant_id, 'evt_FORGED', occurred_at, actor_type, actor_id, action, resource_type, resource_id, outcome FROM audit_events WHERE tenant_id = $1 AND id = $2", tn.ID, evs[0].ID)
			v := verify(t, s, tn)
			if v.Valid || v.FirstInvalidEvent != "evt_FORGED" {
				t.Fatalf("verify after a forged insert = %+v", v)
			}
		})
		t.Run("other tenants unaffected", func(t *testing.T) {
			tn, _, _ := setup(t)
			if v := verify(t, s, tn); !v.Valid {
				t.Fatalf("untouched tenant invalid: %+v", v)
			}
		})
	})
}

func TestServingRoleCannotRewriteAuditRows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		chainOf(t, s, tn)
		for _, q := range []string{
			"UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = ?",
			"DELETE FROM audit_events WHERE tenant_id = ?",
			"UPDATE audit_seals SET hash = 'x' WHERE tenant_id = ?",
			"DELETE FROM audit_seals WHERE tenant_id = ?",
		} {
			err := s.app.DB.InTx(context.Background(), tn.ID, func(ctx context.Context, tx bun.Tx) error {
				_, err := tx.ExecContext(ctx, q, tn.ID)
				return err
			})
			want := "permission denied"
			if s.backend.url == "" {
				want = "append-only"
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s as the serving role: err = %v, want %q", q, err, want)
			}
		}
		if v := verify(t, s, tn); !v.Valid {
			t.Fatalf("chain broken: %+v", v)
		}
	})
}

func TestRowLevelSecurityBackstop(t *testing.T) {
	for _, b := range backends(t) {
		if b.url == "" {
			continue // row-level security is PostgreSQL's; SQLite relies on the application's scoping
		}
		t.Run(b.name, func(t *testing.T) {
			s := sharedServer(t, b)
			a, other := s.newTenant(t), s.newTenant(t)
			for i := 0; i < 3; i++ {
				s.do(t, "POST", "/v1/customers", a.bearer(), map[string]any{"source_id": fmt.Sprintf("rls-%d", i)}).wantStatus(t, http.StatusOK)
			}
			s.do(t, "POST", "/v1/customers", other.bearer(), map[string]any{"source_id": "rls-other"}).wantStatus(t, http.StatusOK)
			ctx := context.Background()
			serving := s.app.DB.Bun()

			var role string
			if err := serving.QueryRowContext(ctx, "SELECT current_user").Scan(&role); err != nil || role != "punchcard_serving" {
				t.Fatalf("serving connections run as %q (%v), want punchcard_serving", role, err)
			}
			// Every table with a tenant_id column is under forced row-level security,
			// so a table added later cannot be forgotten.
			var tables []string
			rows, err := serving.QueryContext(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = current_schema() AND c.relkind = 'r'
				  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
				ORDER BY c.relname`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var name string
				var rls, force bool
				if err := rows.Scan(&name, &rls, &force); err != nil {
					t.Fatal(err)
				}
				if !rls || !force {
					t.Errorf("table %s holds tenant_id but row-level security is enabled=%v forced=%v", name, rls, force)
				}
				tables = append(tables, name)
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
			if len(tables) < 8 {
				t.Fatalf("found only tenant tables %v", tables)
			}
			// No tenant set: an error, not every tenant's rows. (The tenant directory
			// and the seal queue answer with nothing instead: their policies also
			// serve authentication, the sealer, the job worker and the policy poll.)
			for _, table := range tables {
				if table == "tenants" || table == "api_keys" || table == "audit_pending" || table == "async_actions" || table == "policy_active" {
					var n int
					if err := serving.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
						t.Errorf("unscoped SELECT on %s: n=%d err=%v, want no rows", table, n, err)
					}
					continue
				}
				var n int
				err := serving.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
				if err == nil || !strings.Contains(err.Error(), "no tenant set") {
					t.Errorf("unscoped SELECT on %s: n=%d err=%v, want an error", table, n, err)
				}
			}
			// The same on a pooled connection that has used the setting before.
			conn, err := serving.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "SELECT set_config('punchcard.tenant_id', ?, true)", a.ID); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 3 {
				t.Fatalf("unfiltered count inside tenant A = %d (%v), want 3", n, err)
			}
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM customers WHERE tenant_id = ?", other.ID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("tenant A sees %d of the other tenant's customers (%v)", n, err)
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO customers (tenant_id, id, created_at, updated_at) VALUES (?, 'cust_forged', now(), now())", other.ID)
			if err == nil || !strings.Contains(err.Error(), "row-level security") {
				t.Fatalf("insert into another tenant: %v, want a row-level security violation", err)
			}
			_ = tx.Rollback()
			err = conn.QueryRowContext(ctx, "SELECT count(*) FROM customers").Scan(&n)
			if err == nil {
				t.Fatalf("after the transaction the pooled connection still sees %d rows", n)
			}
			// The tables a redemption inserts into have no foreign key to tenants
			// (migration 8): row-level security alone refuses a row of another
			// tenant, or of none.
			for _, forged := range []string{other.ID, "ten_forged"} {
				for _, insert := range []string{
					"INSERT INTO redemptions (tenant_id, id, kind, status, local_date, created_at) VALUES (?, 'r_forged', 'redemption', 'SUCCEEDED', '2026-12-02', now())",
					"INSERT INTO redemption_usage (tenant_id, campaign_id, customer_id, period, count) VALUES (?, 'camp_forged', '', '', 1)",
					"INSERT INTO outbox (tenant_id, id, type, payload, created_at) VALUES (?, 'oev_forged', 'redemption.succeeded', '{}', now())",
					"INSERT INTO idempotency_keys (tenant_id, key, request_hash, created_at) VALUES (?, 'forged', '', now())",
				} {
					tx, err := conn.BeginTx(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := tx.ExecContext(ctx, "SELECT set_config('punchcard.tenant_id', ?, true)", a.ID); err != nil {
						t.Fatal(err)
					}
					_, err = tx.ExecContext(ctx, insert, forged)
					_ = tx.Rollback()
					if err == nil || !strings.Contains(err.Error(), "row-level security") {
						t.Errorf("%s with tenant_id %s, as tenant A: %v, want a row-level security violation", insert, forged, err)
					}
				}
			}
		})
	}
}

func TestErasureKeepsTheChainVerifiable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		canary := "canary-erase-" + strings.ToLower(tn.Slug) + "@example.com"
		var c struct{ ID string }
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": canary, "email": canary, "name": "Erin Erase", "phone": "+49 30 123456",
			"address": map[string]any{"city": "Berlin", "country": "DE"}, "metadata": map[string]any{"note": canary}}).decode(t, &c)
		s.do(t, "PUT", "/v1/customers/"+c.ID+"/consents", tn.bearer(), map[string]any{"newsletter": true}).wantStatus(t, http.StatusOK)
		s.do(t, "PUT", "/v1/customers/"+c.ID, tn.bearer(), map[string]any{"name": "Erin E."}).wantStatus(t, http.StatusOK)
		// Redemptions keep what their requests said: request, order and item
		// metadata, a rollback's reason. Erasure scrubs it, amounts stay.
		_, codes := campaignCodes(t, s, tn, discountCampaign("Erase", 2, map[string]any{"type": "AMOUNT", "amount_off": 100}, nil))
		var parents []string
		for i, code := range codes {
			var red struct {
				Parent struct{ ID string } `json:"parent_redemption"`
			}
			s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(code), "customer": map[string]any{"id": c.ID},
				"order": map[string]any{"amount": 1000, "metadata": map[string]any{"contact": canary},
					"items": []any{map[string]any{"product_id": "p", "quantity": 1, "price": 1000, "metadata": map[string]any{"engraving": canary}}}},
				"metadata": map[string]any{"contact": canary}}).decode(t, &red)
			parents = append(parents, red.Parent.ID)
			if i == 0 {
				s.do(t, "POST", "/v1/redemptions/"+red.Parent.ID+"/rollbacks", tn.bearer(), map[string]any{"reason": "returned by " + canary,
					"metadata": map[string]any{"contact": canary}}).wantStatus(t, http.StatusOK)
			}
		}
		if l := s.do(t, "GET", "/v1/redemptions?limit=100", tn.bearer(), nil); !strings.Contains(string(l.body), canary) {
			t.Fatalf("the redemptions do not hold the canary before erasure: %s", l.body)
		}
		r := s.do(t, "POST", "/v1/customers/"+c.ID+"/permanent-deletion", tn.bearer(), nil)
		r.wantStatus(t, http.StatusOK)
		var del map[string]any
		r.decode(t, &del)
		if del["related_object_id"] != c.ID || del["status"] != "DONE" {
			t.Fatalf("deletion = %s", r.body)
		}
		s.do(t, "GET", "/v1/customers/"+c.ID, tn.bearer(), nil).wantStatus(t, http.StatusNotFound)
		s.do(t, "GET", "/v1/customers/"+canary, tn.bearer(), nil).wantStatus(t, http.StatusNotFound)

		d := ownerDB(t, s)
		ph := func(q string) string {
			if s.backend.url == "" {
				return strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?").Replace(q)
			}
			return q
		}
		for _, c := range []struct {
			q    string
			args []any
		}{
			{"SELECT count(*) FROM customers WHERE tenant_id = $1 AND (email = $2 OR source_id = $3 OR name LIKE 'Erin%')", []any{tn.ID, canary, canary}},
			{"SELECT count(*) FROM customers WHERE tenant_id = $1 AND id = $2", []any{tn.ID, c.ID}},
			{"SELECT count(*) FROM customer_consents WHERE tenant_id = $1 AND customer_id = $2", []any{tn.ID, c.ID}},
		} {
			var n int
			if err := d.QueryRow(ph(c.q), c.args...).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s: %d rows (%v) after erasure", c.q, n, err)
			}
		}
		l := s.do(t, "GET", "/v1/redemptions?limit=100", tn.bearer(), nil)
		l.wantStatus(t, http.StatusOK)
		if strings.Contains(string(l.body), canary) || strings.Count(string(l.body), `"amount":1000`) < 3 {
			t.Fatalf("redemptions after erasure: %s", l.body)
		}
		for _, p := range parents {
			if g := s.do(t, "GET", "/v1/redemptions/"+p, tn.bearer(), nil); g.status != http.StatusOK || strings.Contains(string(g.body), canary) {
				t.Fatalf("redemption %s after erasure: %d %s", p, g.status, g.body)
			}
		}
		var raw int
		if err := d.QueryRow(ph("SELECT count(*) FROM redemptions WHERE tenant_id = $1 AND (CAST(order_data AS TEXT) LIKE $2 OR CAST(metadata AS TEXT) LIKE $3 OR reason LIKE $4)"),
			tn.ID, "%"+canary+"%", "%"+canary+"%", "%"+canary+"%").Scan(&raw); err != nil || raw != 0 {
			t.Fatalf("%d redemption rows (%v) hold the canary after erasure", raw, err)
		}
		ex := s.do(t, "GET", "/v1/audit-events/export", tn.bearer(), nil)
		if strings.Contains(string(ex.body), canary) || strings.Contains(string(ex.body), "Erin") {
			t.Fatalf("audit export holds personal data: %s", ex.body)
		}
		if !strings.Contains(string(ex.body), `"customer.erased"`) {
			t.Fatalf("erasure not audited: %s", ex.body)
		}
		if v := verify(t, s, tn); !v.Valid {
			t.Fatalf("chain broken after erasure: %+v", v)
		}
	})
}

func sqlOpenSQLite(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
}

// An export that fails before anything is sent answers with an error, not a
// 200 with an empty (complete-looking) export.
func TestFailedAuditExportIsAnError(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := startServer(b, func(c *config.Config) { c.DataDir = dir })
			if err != nil {
				t.Fatal(err)
			}
			defer s.stop()
			tn := s.newTenant(t)
			s.do(t, "GET", "/v1/audit-events?limit=1", tn.bearer(), nil).wantStatus(t, http.StatusOK) // the key is now cached
			if err := s.app.DB.Close(); err != nil {
				t.Fatal(err)
			}
			r := s.do(t, "GET", "/v1/audit-events/export", tn.bearer(), nil)
			if r.status < 500 || r.header.Get("Content-Type") == "application/x-ndjson" {
				t.Fatalf("export with its database gone: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
			}
		})
	}
}
