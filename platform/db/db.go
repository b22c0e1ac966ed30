// Package db owns Punchcard's connection to its database: bun over SQLite (the
// embedded default, a file in the data directory) or PostgreSQL (production). It
// opens the pools, runs the embedded migrations, and runs every unit of work in a
// transaction scoped to one tenant, which on PostgreSQL also sets (with its BEGIN,
// in one round trip) the transaction-local value that row-level security checks,
// so a query that forgets its tenant filter still sees only that tenant's rows.
// ReadEach is the exception on SQLite: reads that need no single snapshot (a
// validation's) run there without a transaction around them.
// The queries every validation and redemption runs are Statements, prepared once
// per pooled connection; the writes of a redemption or rollback go as one Batch,
// which on PostgreSQL costs one round trip, COMMIT included.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database engine behind a DB.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ServingRole is the PostgreSQL group role the server runs its queries as. The
// migrations create it and grant it only what serving needs; it owns no table, so
// row-level security applies to it.
const ServingRole = "punchcard_serving"

// Options configure Open.
type Options struct {
	// URL is the serving connection: "" or "sqlite:" for the embedded file, a
	// "file:" path, or "postgres://…".
	URL string
	// MigrationURL is the schema owner's connection, used only by Migrate. It
	// defaults to URL.
	MigrationURL string
	// DataDir holds the embedded SQLite file when URL is empty.
	DataDir string
	// MaxConns bounds the PostgreSQL pool (0: pool_max_conns in URL, else
	// defaultMaxConns).
	MaxConns int32

	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Logger         *slog.Logger
}

// DB is an open database: a writer and a reader handle over the same data. On
// SQLite the writer is a single connection, so writers queue in Go rather than
// failing with SQLITE_BUSY, and readers use their own pool in WAL mode. On
// PostgreSQL both are the same pool.
type DB struct {
	dialect Dialect
	write   *bun.DB
	read    *bun.DB
	opts    Options
	hook    *queryHook // nil without instrumentation

	writeRef, readRef *poolRef // what a transaction's Statements run on

	pgPool *pgxpool.Pool // PostgreSQL: under database/sql, which does not close it
}

// Open connects to the database named by opts. It does not run migrations.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := open(ctx, opts, opts.URL, true)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func open(ctx context.Context, opts Options, rawURL string, serving bool) (*DB, error) {
	d := &DB{opts: opts}
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		d.dialect = Postgres
		pool, err := openPostgres(ctx, rawURL, opts.MaxConns, serving)
		if err != nil {
			return nil, err
		}
		d.pgPool = pool
		sqlDB := sql.OpenDB(beginConnector{stdlib.GetPoolConnector(pool)})
		// database/sql is the pool's only user, so it keeps its connections
		// rather than handing each back to pgxpool after every transaction (the
		// default here): a connection closed by database/sql deallocates its
		// prepared statements, and the next one prepares them again.
		sqlDB.SetMaxOpenConns(int(pool.Config().MaxConns))
		sqlDB.SetMaxIdleConns(int(pool.Config().MaxConns))
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		d.write = bun.NewDB(sqlDB, pgdialect.New())
		d.read = d.write
	case rawURL == "", strings.HasPrefix(rawURL, "sqlite:"), strings.HasPrefix(rawURL, "file:"):
		d.dialect = SQLite
		path, err := sqlitePath(rawURL, opts.DataDir)
		if err != nil {
			return nil, err
		}
		w, r, err := openSQLite(path)
		if err != nil {
			return nil, err
		}
		d.write = bun.NewDB(w, sqlitedialect.New())
		d.read = bun.NewDB(r, sqlitedialect.New())
	default:
		return nil, fmt.Errorf("open database: unsupported URL scheme in %q (want postgres:// or sqlite:)", redact(rawURL))
	}
	if opts.TracerProvider != nil && opts.MeterProvider != nil {
		hook, err := newQueryHook(d.dialect, opts.TracerProvider, opts.MeterProvider)
		if err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("database instrumentation: %w", err)
		}
		d.hook = hook
		same := d.read == d.write
		d.write = d.write.WithQueryHook(hook)
		if same {
			d.read = d.write
		} else {
			d.read = d.read.WithQueryHook(hook)
		}
	}
	d.writeRef = newPoolRef(d.write, d)
	d.readRef = d.writeRef
	if d.read != d.write {
		d.readRef = newPoolRef(d.read, d)
	}
	if err := d.Ping(ctx); err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

func openPostgres(ctx context.Context, rawURL string, maxConns int32, serving bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	switch {
	case maxConns > 0:
		cfg.MaxConns = maxConns
	case !strings.Contains(rawURL, "pool_max_conns="):
		cfg.MaxConns = defaultMaxConns()
	}
	// Bun renders every argument into the query text, so no two statements share a
	// text and pgx's default statement cache would prepare each one: an extra round
	// trip per query and a cache that never hits. The simple protocol sends the
	// rendered text in one round trip. A URL may still choose another mode.
	if !strings.Contains(rawURL, "default_query_exec_mode=") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	if serving {
		// Every serving connection drops to the serving role, so even an owner or
		// superuser URL falls under FORCE ROW LEVEL SECURITY.
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			if _, err := c.Exec(ctx, "SET ROLE "+ServingRole); err != nil {
				return fmt.Errorf("set role %s (run `punchcard migrate` first): %w", ServingRole, err)
			}
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return pool, nil
}

// defaultMaxConns sizes the PostgreSQL pool when nothing else does. A request holds
// its connection while it waits on the network and on its commit's WAL flush, not
// on the CPU, so pgx's default of one connection per CPU (at least 4) leaves
// requests queueing for a connection while the CPUs and the database idle.
func defaultMaxConns() int32 {
	return int32(max(16, 4*runtime.NumCPU()))
}

func sqlitePath(rawURL, dataDir string) (string, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		if dataDir == "" {
			dataDir = "punchcard-data"
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return "", fmt.Errorf("create data dir: %w", err)
		}
		path = filepath.Join(dataDir, "punchcard.db")
	}
	return path, nil
}

func openSQLite(path string) (w, r *sql.DB, err error) {
	pragmas := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"busy_timeout(10000)",
		"foreign_keys(1)",
		// NORMAL in WAL mode survives a process crash (the WAL is in the OS);
		// only a power loss may drop the last commits.
		"synchronous(NORMAL)",
	} {
		pragmas.Add("_pragma", p)
	}
	wv := url.Values{}
	for k, v := range pragmas {
		wv[k] = v
	}
	wv.Set("_txlock", "immediate")
	w, err = sql.Open("sqlite", "file:"+path+"?"+wv.Encode())
	if err != nil {
		return nil, nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Create the file and switch it to WAL before readers open it.
	if _, err := w.Exec("SELECT 1"); err != nil {
		_ = w.Close()
		return nil, nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	pragmas.Set("_txlock", "deferred")
	r, err = sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		_ = w.Close()
		return nil, nil, fmt.Errorf("open sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return w, r, nil
}

// Dialect reports the engine.
func (d *DB) Dialect() Dialect { return d.dialect }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes every pool.
func (d *DB) Close() error {
	if d.writeRef != nil {
		d.writeRef.close()
	}
	if d.readRef != nil && d.readRef != d.writeRef {
		d.readRef.close()
	}
	err := d.write.Close()
	if d.read != d.write {
		err = errors.Join(err, d.read.Close())
	}
	if d.pgPool != nil {
		d.pgPool.Close()
	}
	return err
}

// IsUniqueViolation reports whether err is a unique or primary key violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		c := sqErr.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsNotFound reports whether err is sql.ErrNoRows.
func IsNotFound(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<unparseable>"
	}
	return p.Redacted()
}
