package customers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/dbtest"
	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// env is a migrated database with two fresh tenants and a clock that advances one
// second on every reading, so that every write has its own timestamp.
type env struct {
	db        *db.DB
	audit     *audit.Log
	svc       *customers.Service
	acme, umb string // tenant ids

	mu  sync.Mutex
	now time.Time
}

// eachDB runs test on SQLite and, when PUNCHCARD_TEST_DATABASE_URL names one, on
// PostgreSQL. newEnv gives a test fresh tenants: on SQLite in a file of its own, on
// PostgreSQL in the one database the test shares (so that it needs few connections).
func eachDB(t *testing.T, test func(t *testing.T, newEnv func(t *testing.T) *env)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func(t *testing.T) *env { return newTenants(t, dbtest.Open(t, db.Options{DataDir: t.TempDir()})) })
	})
	if u := dbtest.PostgresURL(); u != "" {
		t.Run("postgres", func(t *testing.T) {
			d := dbtest.Open(t, db.Options{URL: u, MaxConns: 4})
			test(t, func(t *testing.T) *env { return newTenants(t, d) })
		})
	}
}

func newTenants(t *testing.T, d *db.DB) *env {
	t.Helper()
	e := &env{db: d, now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	e.audit = audit.New(d, e.clock)
	ids := dbtest.Tenants(t, d, e.clock, 2)
	e.acme, e.umb = ids[0], ids[1]
	e.svc = customers.NewService(d, e.audit, e.clock)
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(time.Second)
	return e.now
}

// count returns the number of rows of table that belong to tenantID and match where.
func (e *env) count(t *testing.T, tenantID, table, where string, args ...any) int {
	t.Helper()
	var n int
	err := e.db.Read(context.Background(), tenantID, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().Table(table).Where("tenant_id = ?", tenantID)
		if where != "" {
			q = q.Where(where, args...)
		}
		c, err := q.Count(ctx)
		n = int(c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) events(t *testing.T, tenantID, resourceID string) []audit.Event {
	t.Helper()
	evs, _, err := e.audit.List(context.Background(), tenantID, audit.Filter{ResourceID: resourceID, Limit: audit.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (e *env) upsert(t *testing.T, tenantID string, in customers.Input) customers.Customer {
	t.Helper()
	c, _, err := e.svc.Upsert(context.Background(), tenantID, in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exactNumbers re-encodes a JSON value with every number as a string holding the
// exact fraction, such as "1999/100" for 19.99.
func exactNumbers(t *testing.T, raw []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case json.Number:
			r, ok := new(big.Rat).SetString(v.String())
			if !ok {
				t.Fatalf("number %s", v)
			}
			return r.RatString()
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// canonical re-encodes a stored JSON value, which PostgreSQL's jsonb reformats.
func canonical(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func wantProblem(t *testing.T, err error, kind problem.Kind, field string) {
	t.Helper()
	p, ok := problem.As(err)
	if !ok {
		t.Fatalf("error = %v, want a problem of kind %d", err, kind)
	}
	if p.Kind != kind || p.Field != field {
		t.Fatalf("problem = kind %d field %q (%s), want kind %d field %q", p.Kind, p.Field, p.Details, kind, field)
	}
}

func TestUpsertCreatesThenUpdatesBySourceID(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()

		first, created, err := e.svc.Upsert(ctx, e.acme, customers.Input{
			SourceID: customers.Some("crm-42"), Name: customers.Some("Ada Lovelace"),
			Email: customers.Some(" ada@example.com "), Birthdate: customers.Some("1990-12-10"),
			Address: customers.Some(customers.Address{City: "London", Country: "GB"}),
		})
		if err != nil || !created {
			t.Fatalf("create: created=%v err=%v", created, err)
		}
		if !strings.HasPrefix(first.ID, "cust_") || first.Email != "ada@example.com" || first.Address.City != "London" {
			t.Fatalf("created %+v", first)
		}

		second, created, err := e.svc.Upsert(ctx, e.acme, customers.Input{
			SourceID: customers.Some("crm-42"), Name: customers.Some("Ada King"),
		})
		if err != nil || created {
			t.Fatalf("update: created=%v err=%v", created, err)
		}
		if second.ID != first.ID || second.Name != "Ada King" || second.Email != "ada@example.com" || second.Birthdate != "1990-12-10" {
			t.Fatalf("updated %+v", second)
		}
		if !second.UpdatedAt.After(first.UpdatedAt) || !second.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("timestamps: created %v→%v updated %v→%v", first.CreatedAt, second.CreatedAt, first.UpdatedAt, second.UpdatedAt)
		}

		// By id, the source_id is not the key: the body's id is.
		third, created, err := e.svc.Upsert(ctx, e.acme, customers.Input{ID: first.ID, Phone: customers.Some("+44 20 7946 0000")})
		if err != nil || created || third.ID != first.ID || third.Phone == "" || third.SourceID != "crm-42" {
			t.Fatalf("upsert by id: %+v created=%v err=%v", third, created, err)
		}

		if n := e.count(t, e.acme, "customers", ""); n != 1 {
			t.Fatalf("%d customers, want 1", n)
		}
		var actions []string
		for _, ev := range e.events(t, e.acme, first.ID) {
			actions = append(actions, ev.Action)
		}
		if got := strings.Join(actions, ","); got != "customer.updated,customer.updated,customer.created" {
			t.Fatalf("audit actions = %s", got)
		}
	})
}

func TestUpsertWithUnknownIDIsNotFound(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		_, _, err := e.svc.Upsert(context.Background(), e.acme, customers.Input{ID: "cust_01JD3M4ZC8X9V2K7QF5N6T0B1R", Name: customers.Some("X")})
		wantProblem(t, err, problem.KindNotFound, "")
		if n := e.count(t, e.acme, "customers", ""); n != 0 {
			t.Fatalf("%d customers written", n)
		}
	})
}

func TestUpsertWithoutSourceIDAlwaysCreates(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		a := e.upsert(t, e.acme, customers.Input{Name: customers.Some("Anon")})
		b := e.upsert(t, e.acme, customers.Input{Name: customers.Some("Anon")})
		if a.ID == b.ID || a.SourceID != "" {
			t.Fatalf("a=%+v b=%+v", a, b)
		}
	})
}

func TestConcurrentUpsertsOfOneSourceIDMakeOneCustomer(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		var wg sync.WaitGroup
		got := make([]string, 8)
		errs := make([]error, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := e.svc.Upsert(context.Background(), e.acme, customers.Input{
					SourceID: customers.Some("same"), Description: customers.Some(fmt.Sprint("writer ", i)),
				})
				got[i], errs[i] = c.ID, err
			}()
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil || got[i] != got[0] {
				t.Fatalf("writer %d: id %s err %v (writer 0: %s)", i, got[i], errs[i], got[0])
			}
		}
		if n := e.count(t, e.acme, "customers", ""); n != 1 {
			t.Fatalf("%d customers, want 1", n)
		}
	})
}

func TestUpdateFieldsAreTriState(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		base := customers.Input{
			SourceID: customers.Some("tri"), Name: customers.Some("Grace"), Email: customers.Some("grace@example.com"),
			Phone: customers.Some("+1 555 0100"), Birthdate: customers.Some("1906-12-09"), Description: customers.Some("admiral"),
			Address:  customers.Some(customers.Address{City: "New York", Country: "US"}),
			Metadata: customers.Some(map[string]any{"tier": "gold"}),
		}
		tests := []struct {
			name  string
			in    customers.Input
			check func(c customers.Customer) bool
		}{
			{"absent keeps everything", customers.Input{},
				func(c customers.Customer) bool {
					return c.Name == "Grace" && c.Email == "grace@example.com" && c.Address != nil && c.Metadata["tier"] == "gold"
				}},
			{"null clears name only", customers.Input{Name: customers.Null[string]()},
				func(c customers.Customer) bool { return c.Name == "" && c.Email == "grace@example.com" }},
			{"empty string clears phone", customers.Input{Phone: customers.Some("")},
				func(c customers.Customer) bool { return c.Phone == "" && c.Name == "Grace" }},
			{"null clears address", customers.Input{Address: customers.Null[customers.Address]()},
				func(c customers.Customer) bool { return c.Address == nil && c.Description == "admiral" }},
			{"empty address clears address", customers.Input{Address: customers.Some(customers.Address{})},
				func(c customers.Customer) bool { return c.Address == nil }},
			{"address replaces the whole address", customers.Input{Address: customers.Some(customers.Address{Line1: "1 Navy Way"})},
				func(c customers.Customer) bool { return c.Address.Line1 == "1 Navy Way" && c.Address.City == "" }},
			{"null clears metadata", customers.Input{Metadata: customers.Null[map[string]any]()},
				func(c customers.Customer) bool { return len(c.Metadata) == 0 && c.Birthdate == "1906-12-09" }},
			{"metadata replaces the whole object", customers.Input{Metadata: customers.Some(map[string]any{"lang": "en"})},
				func(c customers.Customer) bool { return len(c.Metadata) == 1 && c.Metadata["lang"] == "en" }},
			{"birthday is the old name of birthdate", customers.Input{Birthday: customers.Some("1910-01-01")},
				func(c customers.Customer) bool { return c.Birthdate == "1910-01-01" }},
			{"birthdate wins over birthday", customers.Input{Birthdate: customers.Some("1920-01-01"), Birthday: customers.Some("1910-01-01")},
				func(c customers.Customer) bool { return c.Birthdate == "1920-01-01" }},
			{"source_id can change", customers.Input{SourceID: customers.Some("tri-2")},
				func(c customers.Customer) bool { return c.SourceID == "tri-2" }},
			{"null clears source_id", customers.Input{SourceID: customers.Null[string]()},
				func(c customers.Customer) bool { return c.SourceID == "" && c.Name == "Grace" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t)
				ctx := context.Background()
				c := e.upsert(t, e.acme, base)
				updated, err := e.svc.Update(ctx, e.acme, c.ID, tt.in)
				if err != nil {
					t.Fatal(err)
				}
				reread, err := e.svc.Get(ctx, e.acme, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.check(updated) || !tt.check(reread) {
					t.Fatalf("returned %+v\nstored %+v", updated, reread)
				}
			})
		}
	})
}

func TestUpdateAuditsChangedFieldNamesOnly(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()
		c := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("ada@example.com"), Name: customers.Some("Ada")})
		if _, err := e.svc.Update(ctx, e.acme, "ada@example.com", customers.Input{
			Name: customers.Some("Ada"), Email: customers.Some("ada@example.com"), Metadata: customers.Some(map[string]any{"vip": true}),
		}); err != nil {
			t.Fatal(err)
		}
		evs := e.events(t, e.acme, c.ID)
		if len(evs) != 2 || evs[0].Action != "customer.updated" {
			t.Fatalf("events %+v", evs)
		}
		if got := canonical(t, evs[0].After); got != `{"changed":["email","metadata"]}` {
			t.Fatalf("after = %s", got)
		}
		// An update that changes nothing writes nothing.
		if _, err := e.svc.Update(ctx, e.acme, c.ID, customers.Input{Name: customers.Some("Ada")}); err != nil {
			t.Fatal(err)
		}
		if n := len(e.events(t, e.acme, c.ID)); n != 2 {
			t.Fatalf("%d events after a no-op update, want 2", n)
		}
	})
}

func TestUpdateToTakenSourceIDConflicts(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("a")})
		b := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("b")})
		_, err := e.svc.Update(context.Background(), e.acme, b.ID, customers.Input{SourceID: customers.Some("a"), Name: customers.Some("B")})
		if !problem.Is(err, problem.KindConflict) {
			t.Fatalf("err = %v, want a conflict", err)
		}
		got, _ := e.svc.Get(context.Background(), e.acme, b.ID)
		if got.SourceID != "b" || got.Name != "" {
			t.Fatalf("customer changed by a refused update: %+v", got)
		}
	})
}

func TestGetByIDOrSourceID(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		c := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("pos-7"), Name: customers.Some("Linus")})
		// A source_id that looks like someone else's id is still found as a source_id.
		lookalike := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("cust_01JD3M4ZC8X9V2K7QF5N6T0B1R")})
		tests := []struct {
			key    string
			wantID string
		}{
			{c.ID, c.ID},
			{"pos-7", c.ID},
			{"cust_01JD3M4ZC8X9V2K7QF5N6T0B1R", lookalike.ID},
			{"nobody", ""},
			{"", ""},
		}
		for _, tt := range tests {
			t.Run(tt.key, func(t *testing.T) {
				got, err := e.svc.Get(context.Background(), e.acme, tt.key)
				if tt.wantID == "" {
					wantProblem(t, err, problem.KindNotFound, "")
					return
				}
				if err != nil || got.ID != tt.wantID || got.TenantID != e.acme {
					t.Fatalf("got %+v, %v", got, err)
				}
			})
		}
	})
}

func TestAnotherTenantsCustomerIsNotFound(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()
		c := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("shared-key"), Email: customers.Some("x@example.com")})
		for _, key := range []string{c.ID, "shared-key"} {
			ops := map[string]func() error{
				"get": func() error { _, err := e.svc.Get(ctx, e.umb, key); return err },
				"update": func() error {
					_, err := e.svc.Update(ctx, e.umb, key, customers.Input{Name: customers.Some("Mallory")})
					return err
				},
				"delete": func() error { return e.svc.Delete(ctx, e.umb, key) },
				"erase":  func() error { _, err := e.svc.Erase(ctx, e.umb, key); return err },
				"consents": func() error {
					_, _, err := e.svc.SetConsents(ctx, e.umb, key, map[string]bool{"newsletter": true})
					return err
				},
			}
			for name, op := range ops {
				t.Run(name+" "+key, func(t *testing.T) {
					err := op()
					wantProblem(t, err, problem.KindNotFound, "")
					p, _ := problem.As(err)
					if p.Details != "Cannot find customer with id "+key {
						t.Fatalf("details = %q", p.Details)
					}
				})
			}
		}
		// Upsert by id from the other tenant does not reach it either, and upsert by the
		// same source_id creates the other tenant's own customer.
		_, _, err := e.svc.Upsert(ctx, e.umb, customers.Input{ID: c.ID})
		wantProblem(t, err, problem.KindNotFound, "")
		own := e.upsert(t, e.umb, customers.Input{SourceID: customers.Some("shared-key")})
		if own.ID == c.ID {
			t.Fatal("upsert in another tenant updated acme's customer")
		}
		page, total, _, err := e.svc.List(ctx, e.umb, customers.ListFilter{})
		if err != nil || total != 1 || len(page) != 1 || page[0].ID != own.ID {
			t.Fatalf("umbrella lists %+v (total %d, %v)", page, total, err)
		}
		got, err := e.svc.Get(ctx, e.acme, c.ID)
		if err != nil || got.Name != "" || got.Email != "x@example.com" {
			t.Fatalf("acme's customer changed: %+v %v", got, err)
		}
	})
}

func TestInvalidInputNamesTheFieldAndWritesNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		long := func(n int) string { return strings.Repeat("x", n) }
		bigMetadata := map[string]any{}
		for i := range metadata.MaxKeys + 1 {
			bigMetadata[fmt.Sprint("k", i)] = i
		}
		tests := []struct {
			name  string
			in    customers.Input
			field string
		}{
			{"empty source_id", customers.Input{SourceID: customers.Some(" ")}, "source_id"},
			{"long source_id", customers.Input{SourceID: customers.Some(long(256))}, "source_id"},
			{"long name", customers.Input{Name: customers.Some(long(201))}, "name"},
			{"bad email", customers.Input{Email: customers.Some("not-an-email")}, "email"},
			{"email with display name", customers.Input{Email: customers.Some("Ada <ada@example.com>")}, "email"},
			{"long email", customers.Input{Email: customers.Some(long(250) + "@example.com")}, "email"},
			{"long phone", customers.Input{Phone: customers.Some(long(51))}, "phone"},
			{"long description", customers.Input{Description: customers.Some(long(2001))}, "description"},
			{"birthdate format", customers.Input{Birthdate: customers.Some("10/12/1990")}, "birthdate"},
			{"birthdate not a real date", customers.Input{Birthdate: customers.Some("2023-02-30")}, "birthdate"},
			{"birthdate in the future", customers.Input{Birthdate: customers.Some("2030-01-01")}, "birthdate"},
			{"birthday format", customers.Input{Birthday: customers.Some("1990-1-1")}, "birthday"},
			{"long country", customers.Input{Address: customers.Some(customers.Address{Country: long(101)})}, "address.country"},
			{"long city", customers.Input{Address: customers.Some(customers.Address{City: long(256)})}, "address.city"},
			{"too many metadata keys", customers.Input{Metadata: customers.Some(bigMetadata)}, "metadata"},
			{"long metadata key", customers.Input{Metadata: customers.Some(map[string]any{long(101): 1})}, "metadata"},
			{"empty metadata key", customers.Input{Metadata: customers.Some(map[string]any{"": 1})}, "metadata"},
			{"metadata over 16 KiB", customers.Input{Metadata: customers.Some(map[string]any{"blob": long(16 << 10)})}, "metadata"},
			{"valid fields do not save an invalid one", customers.Input{Name: customers.Some("Ok"), Email: customers.Some("@")}, "email"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t)
				ctx := context.Background()
				before := e.count(t, e.acme, "audit_events", "")
				_, _, err := e.svc.Upsert(ctx, e.acme, tt.in)
				wantProblem(t, err, problem.KindInvalid, tt.field)

				c := e.upsert(t, e.acme, customers.Input{Name: customers.Some("Original")})
				_, err = e.svc.Update(ctx, e.acme, c.ID, tt.in)
				wantProblem(t, err, problem.KindInvalid, tt.field)

				if n := e.count(t, e.acme, "customers", ""); n != 1 {
					t.Fatalf("%d customers, want only the valid one", n)
				}
				if n := e.count(t, e.acme, "audit_events", ""); n != before+1 {
					t.Fatalf("%d audit events, want %d", n, before+1)
				}
				got, _ := e.svc.Get(ctx, e.acme, c.ID)
				if got.Name != "Original" || !got.UpdatedAt.Equal(c.UpdatedAt) {
					t.Fatalf("refused update changed the customer: %+v", got)
				}
			})
		}
	})
}

func TestValidInputAtTheLimitsIsAccepted(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		md := map[string]any{}
		for i := range metadata.MaxKeys {
			md[fmt.Sprintf("k%03d", i)] = i
		}
		_, _, err := e.svc.Upsert(context.Background(), e.acme, customers.Input{
			SourceID: customers.Some(strings.Repeat("s", customers.MaxSourceID)),
			Name:     customers.Some(strings.Repeat("ñ", customers.MaxName)),
			Email:    customers.Some("o'brien+loyalty@mail.example.co.uk"),
			Address:  customers.Some(customers.Address{Country: "Deutschland"}),
			Metadata: customers.Some(md),
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestMetadataNumbersRoundTripExactly(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()
		// Decoded the way a request body is: numbers stay json.Number.
		var body struct {
			Metadata customers.Field[map[string]any] `json:"metadata"`
		}
		raw := `{"metadata":{"big":12345678901234567,"price":19.99,"exp":1e3,"nested":{"n":-0.000001},"list":[1,2.50]}}`
		if err := json.Unmarshal([]byte(raw), &body); err != nil {
			t.Fatal(err)
		}
		c := e.upsert(t, e.acme, customers.Input{Metadata: body.Metadata})
		got, err := e.svc.Get(ctx, e.acme, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Metadata["big"] != json.Number("12345678901234567") {
			t.Fatalf("big = %#v", got.Metadata["big"])
		}
		b, err := json.Marshal(got.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		// Exact values; PostgreSQL may respell them (1e3 as 1000), never round them.
		want := `{"big":"12345678901234567","exp":"1000","list":["1","5/2"],"nested":{"n":"-1/1000000"},"price":"1999/100"}`
		if got := exactNumbers(t, b); got != want {
			t.Fatalf("metadata = %s (%s)\nwant       %s", got, b, want)
		}
		// The same through a list.
		page, _, _, err := e.svc.List(ctx, e.acme, customers.ListFilter{})
		if err != nil || len(page) != 1 || page[0].Metadata["big"] != json.Number("12345678901234567") {
			t.Fatalf("list: %+v %v", page, err)
		}
	})
}

func TestFieldDecodesAbsentNullAndValue(t *testing.T) {
	type body struct {
		Name    customers.Field[string]            `json:"name"`
		Address customers.Field[customers.Address] `json:"address"`
	}
	tests := []struct {
		raw       string
		set, null bool
		want      string
	}{
		{`{}`, false, false, ""},
		{`{"name":null}`, true, true, ""},
		{`{"name":""}`, true, false, ""},
		{`{"name":"Ada"}`, true, false, "Ada"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			var b body
			if err := json.Unmarshal([]byte(tt.raw), &b); err != nil {
				t.Fatal(err)
			}
			if b.Name.Set != tt.set || (b.Name.Value == nil) != (tt.null || !tt.set) {
				t.Fatalf("field = %+v", b.Name)
			}
			if b.Name.Value != nil && *b.Name.Value != tt.want {
				t.Fatalf("value = %q", *b.Name.Value)
			}
		})
	}
	t.Run("wrong type names the field", func(t *testing.T) {
		var b body
		err := json.Unmarshal([]byte(`{"address":{"city":5}}`), &b)
		var typ *json.UnmarshalTypeError
		if !errors.As(err, &typ) || typ.Field != "address.city" {
			t.Fatalf("err = %v (field %q)", err, typ.Field)
		}
	})
}

func TestEraseRemovesPersonalData(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()
		const email = "erase.me@example.com"
		c := e.upsert(t, e.acme, customers.Input{
			SourceID: customers.Some(email), Name: customers.Some("Erin Erasable"), Email: customers.Some(email),
			Phone: customers.Some("+49 30 1234567"), Address: customers.Some(customers.Address{City: "Berlin", Line1: "Unter den Linden 1"}),
			Metadata: customers.Some(map[string]any{"favourite": "secret-flavour"}),
		})
		if _, err := e.svc.Update(ctx, e.acme, c.ID, customers.Input{Name: customers.Some("Erin E.")}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.SetConsents(ctx, e.acme, c.ID, map[string]bool{"newsletter": true, "sms": false}); err != nil {
			t.Fatal(err)
		}
		other := e.upsert(t, e.acme, customers.Input{Email: customers.Some("keep@example.com")})
		if _, _, err := e.svc.SetConsents(ctx, e.acme, other.ID, map[string]bool{"newsletter": true}); err != nil {
			t.Fatal(err)
		}

		d, err := e.svc.Erase(ctx, e.acme, email) // by source_id
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(d.ID, "del_") || d.CustomerID != c.ID || d.Status != customers.DeletionDone ||
			d.Counts.Customer != 1 || d.Counts.Consents != 2 || d.CreatedAt.IsZero() {
			t.Fatalf("deletion = %+v", d)
		}
		if n := e.count(t, e.acme, "customers", "id = ?", c.ID); n != 0 {
			t.Fatalf("customer row survived erasure")
		}
		if n := e.count(t, e.acme, "customer_consents", "customer_id = ?", c.ID); n != 0 {
			t.Fatalf("%d consent rows survived erasure", n)
		}
		if n := e.count(t, e.acme, "customers", ""); n != 1 {
			t.Fatalf("erasure took %d other customers", 1-n)
		}
		if n := e.count(t, e.acme, "customer_consents", ""); n != 1 {
			t.Fatalf("erasure took another customer's consents")
		}
		_, err = e.svc.Get(ctx, e.acme, c.ID)
		wantProblem(t, err, problem.KindNotFound, "")

		evs := e.events(t, e.acme, c.ID)
		if len(evs) == 0 || evs[0].Action != "customer.erased" {
			t.Fatalf("last event = %+v", evs)
		}
		// No event of the tenant, before or after erasure, holds the personal data.
		all, _, err := e.audit.List(ctx, e.acme, audit.Filter{Limit: audit.MaxPage})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range all {
			text := string(ev.Before) + string(ev.After) + ev.ResourceID
			for _, pii := range []string{email, "Erin", "Berlin", "Linden", "1234567", "secret-flavour"} {
				if strings.Contains(text, pii) {
					t.Errorf("audit event %s (%s) holds %q: %s", ev.ID, ev.Action, pii, text)
				}
			}
		}
		if v, err := e.audit.Verify(ctx, e.acme); err != nil || !v.Valid {
			t.Fatalf("audit chain after erasure: %+v %v", v, err)
		}

		_, err = e.svc.Erase(ctx, e.acme, c.ID)
		wantProblem(t, err, problem.KindNotFound, "")
	})
}

func TestDelete(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()
		c := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("gone")})
		if _, _, err := e.svc.SetConsents(ctx, e.acme, c.ID, map[string]bool{"newsletter": true}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Delete(ctx, e.acme, "gone"); err != nil {
			t.Fatal(err)
		}
		if n := e.count(t, e.acme, "customers", "") + e.count(t, e.acme, "customer_consents", ""); n != 0 {
			t.Fatalf("%d rows left", n)
		}
		if evs := e.events(t, e.acme, c.ID); evs[0].Action != "customer.deleted" {
			t.Fatalf("last event %s", evs[0].Action)
		}
		wantProblem(t, e.svc.Delete(ctx, e.acme, "gone"), problem.KindNotFound, "")
		// The source_id is free again.
		if again := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("gone")}); again.ID == c.ID {
			t.Fatal("deleted customer came back")
		}
	})
}

func TestSetConsents(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()
		c := e.upsert(t, e.acme, customers.Input{SourceID: customers.Some("consenting")})
		steps := []struct {
			name string
			set  map[string]bool
			want string
		}{
			{"grant and withdraw", map[string]bool{"cnst_newsletter": true, "cnst_sms": false}, `{"cnst_newsletter":true,"cnst_sms":false}`},
			{"others are kept", map[string]bool{"cnst_push": true}, `{"cnst_newsletter":true,"cnst_push":true,"cnst_sms":false}`},
			{"change one", map[string]bool{"cnst_sms": true}, `{"cnst_newsletter":true,"cnst_push":true,"cnst_sms":true}`},
			{"unsubscribed withdraws all, then applies the rest", map[string]bool{"unsubscribed": true, "cnst_push": true}, `{"cnst_newsletter":false,"cnst_push":true,"cnst_sms":false}`},
			{"empty changes nothing", map[string]bool{}, `{"cnst_newsletter":false,"cnst_push":true,"cnst_sms":false}`},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				id, got, err := e.svc.SetConsents(ctx, e.acme, "consenting", st.set)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(got)
				if id != c.ID || string(b) != st.want {
					t.Fatalf("got %s %s, want %s %s", id, b, c.ID, st.want)
				}
			})
		}
		evs := e.events(t, e.acme, c.ID)
		if evs[0].Action != "customer.consents_updated" || canonical(t, evs[0].After) != `{"granted":[],"unsubscribed":false,"withdrawn":[]}` {
			t.Fatalf("last event %s %s", evs[0].Action, evs[0].After)
		}

		_, _, err := e.svc.SetConsents(ctx, e.acme, c.ID, map[string]bool{strings.Repeat("c", customers.MaxConsentID+1): true})
		wantProblem(t, err, problem.KindInvalid, "consents")
		_, _, err = e.svc.SetConsents(ctx, e.acme, c.ID, map[string]bool{"": true})
		wantProblem(t, err, problem.KindInvalid, "consents")
	})
}

func TestListPagesFiltersAndOrders(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		ctx := context.Background()
		// Five customers, created one second apart: c[0] oldest.
		var cs []customers.Customer
		cities := []string{"Paris", "Lyon", "Paris", "Nice", "Paris"}
		for i, city := range cities {
			cs = append(cs, e.upsert(t, e.acme, customers.Input{
				SourceID: customers.Some(fmt.Sprintf("s%d", 4-i)), Name: customers.Some(fmt.Sprint("n", i)),
				Email: customers.Some(fmt.Sprintf("c%d@example.com", i)), Address: customers.Some(customers.Address{City: city}),
			}))
		}
		// c[1] is updated last.
		if _, err := e.svc.Update(ctx, e.acme, cs[1].ID, customers.Input{Phone: customers.Some("1")}); err != nil {
			t.Fatal(err)
		}
		e.upsert(t, e.umb, customers.Input{Name: customers.Some("elsewhere")})

		idsOf := func(page []customers.Customer) string {
			var out []string
			for _, c := range page {
				for i := range cs {
					if cs[i].ID == c.ID {
						out = append(out, fmt.Sprint(i))
					}
				}
			}
			return strings.Join(out, ",")
		}
		tests := []struct {
			name    string
			f       customers.ListFilter
			want    string
			total   int64
			hasMore bool
		}{
			{"default: newest first, 10 per page", customers.ListFilter{}, "4,3,2,1,0", 5, false},
			{"limit", customers.ListFilter{Limit: 2}, "4,3", 5, true},
			{"page 2", customers.ListFilter{Limit: 2, Page: 2}, "2,1", 5, true},
			{"page 3", customers.ListFilter{Limit: 2, Page: 3}, "0", 5, false},
			{"starting_after an id", customers.ListFilter{Limit: 2, StartingAfter: cs[3].ID}, "2,1", 5, true},
			{"starting_after the last id", customers.ListFilter{Limit: 2, StartingAfter: cs[1].ID}, "0", 5, false},
			{"starting_after an id, ascending", customers.ListFilter{Limit: 2, Order: "created_at", StartingAfter: cs[1].ID}, "2,3", 5, true},
			{"starting_after a time, descending", customers.ListFilter{StartingAfter: cs[2].CreatedAt.Format(time.RFC3339Nano)}, "1,0", 5, false},
			{"starting_after a time, ascending", customers.ListFilter{Order: "created_at", StartingAfter: cs[2].CreatedAt.Format(time.RFC3339Nano)}, "3,4", 5, false},
			{"order updated_at", customers.ListFilter{Order: "-updated_at", Limit: 2}, "1,4", 5, true},
			{"order source_id", customers.ListFilter{Order: "source_id"}, "4,3,2,1,0", 5, false},
			{"order source_id after an id", customers.ListFilter{Order: "-source_id", StartingAfter: cs[1].ID}, "2,3,4", 5, false},
			{"email", customers.ListFilter{Email: "c3@example.com"}, "3", 1, false},
			{"city", customers.ListFilter{City: "Paris", Limit: 2}, "4,2", 3, true},
			{"name", customers.ListFilter{Name: "n1"}, "1", 1, false},
			{"created_at after and before", customers.ListFilter{CreatedAfter: cs[0].CreatedAt, CreatedBefore: cs[4].CreatedAt}, "3,2,1", 3, false},
			{"updated_at after", customers.ListFilter{UpdatedAfter: cs[4].UpdatedAt}, "1", 1, false},
			{"updated_at before", customers.ListFilter{UpdatedBefore: cs[1].CreatedAt.Add(time.Millisecond)}, "0", 1, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, total, hasMore, err := e.svc.List(ctx, e.acme, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := idsOf(page); got != tt.want || total != tt.total || hasMore != tt.hasMore {
					t.Fatalf("got [%s] total %d has_more %v, want [%s] total %d has_more %v", got, total, hasMore, tt.want, tt.total, tt.hasMore)
				}
			})
		}

		// Following starting_after to the end visits every customer once.
		var seen []customers.Customer
		f := customers.ListFilter{Limit: 2}
		for range 10 {
			page, _, hasMore, err := e.svc.List(ctx, e.acme, f)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, page...)
			if !hasMore {
				break
			}
			f.StartingAfter = page[len(page)-1].ID
		}
		if got := idsOf(seen); got != "4,3,2,1,0" {
			t.Fatalf("walk = %s", got)
		}
	})
}

func TestListRejectsBadParameters(t *testing.T) {
	eachDB(t, func(t *testing.T, newEnv func(t *testing.T) *env) {
		e := newEnv(t)
		tests := []struct {
			f     customers.ListFilter
			field string
		}{
			{customers.ListFilter{Limit: 101}, "limit"},
			{customers.ListFilter{Limit: -1}, "limit"},
			{customers.ListFilter{Page: 100}, "page"},
			{customers.ListFilter{Page: -1}, "page"},
			{customers.ListFilter{Order: "name"}, "order"},
			{customers.ListFilter{StartingAfter: "yesterday"}, "starting_after"},
			{customers.ListFilter{StartingAfter: "cust_01JD3M4ZC8X9V2K7QF5N6T0B1R"}, "starting_after"},
			{customers.ListFilter{StartingAfter: "2026-01-01T00:00:00Z", Order: "source_id"}, "starting_after"},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%+v", tt.f), func(t *testing.T) {
				_, _, _, err := e.svc.List(context.Background(), e.acme, tt.f)
				wantProblem(t, err, problem.KindInvalid, tt.field)
			})
		}
	})
}
