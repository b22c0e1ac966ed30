// Package dbtest gives tests real, migrated databases: SQLite in a temporary
// directory always, and PostgreSQL too when PUNCHCARD_TEST_DATABASE_URL names one
// (the integration suite is what requires it in CI), with fresh tenants and a
// clock the test controls.
package dbtest

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

// Each runs test as the subtests "sqlite" and, when configured, "postgres", each
// with a migrated, open database.
func Each(t *testing.T, test func(t *testing.T, d *db.DB)) {
	for _, d := range Databases(t) {
		t.Run(d.Name, func(t *testing.T) { test(t, Open(t, d.Options)) })
	}
}

// Database is one database tests run on: its subtest name and how to open it.
type Database struct {
	Name    string
	Options db.Options
}

// Databases are the databases Each runs on: SQLite in a temporary directory of
// tb, and PostgreSQL when PostgresURL names one. A benchmark ranges over them
// with b.Run, as Each does with t.Run.
func Databases(tb testing.TB) []Database {
	ds := []Database{{Name: "sqlite", Options: db.Options{DataDir: tb.TempDir()}}}
	if u := PostgresURL(); u != "" {
		ds = append(ds, Database{Name: "postgres", Options: db.Options{URL: u, MaxConns: 16}})
	}
	return ds
}

// PostgresURL is the PostgreSQL database tests use, "" when none is configured.
func PostgresURL() string { return os.Getenv("PUNCHCARD_TEST_DATABASE_URL") }

// Open migrates and opens the database of opts, closed when the test ends. It
// migrates without opts' tracer and meter, so that they see only the test's own
// statements.
func Open(t testing.TB, opts db.Options) *db.DB {
	t.Helper()
	ctx := context.Background()
	plain := opts
	plain.TracerProvider, plain.MeterProvider = nil, nil
	if _, err := db.Migrate(ctx, plain); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Tenants creates n tenants with random slugs (so tests can share a PostgreSQL
// database) and returns their ids.
func Tenants(t testing.TB, d *db.DB, now func() time.Time, n int) []string {
	t.Helper()
	ts := tenants.NewService(d, audit.New(d, now), now)
	ids := make([]string, n)
	for i := range ids {
		created, err := ts.CreateTenant(context.Background(), tenants.NewTenant{Slug: "t-" + strings.ToLower(ulid.Make().String())})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = created.Tenant.ID
	}
	return ids
}

// Clock is a clock the test moves. Its zero value reads 2026-11-22 12:00 UTC.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	}
	return c.now
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.Now()
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
