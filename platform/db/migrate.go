package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// The migrations are plain SQL files, one directory per dialect because the two
// differ in types and PostgreSQL adds row-level security, roles and grants. Files in
// both directories carry the same names so that the history reads the same.
//
//go:embed migrations
var migrationFiles embed.FS

const migrationsTable = "punchcard_migrations"

// migrationLockID is the PostgreSQL advisory lock key that serialises concurrent
// `punchcard migrate` runs across nodes ("punchcrd" in ASCII).
const migrationLockID = 0x70756e6368637264

func migrations(d Dialect) (*migrate.Migrations, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", d, err)
	}
	m := migrate.NewMigrations()
	if err := m.Discover(sub); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return m, nil
}

// MigrationResult says what Migrate applied.
type MigrationResult struct {
	Applied []string `json:"applied"`
}

// Migrate applies every pending migration as the schema owner (opts.MigrationURL,
// else opts.URL). Concurrent runs on PostgreSQL wait for one another.
func Migrate(ctx context.Context, opts Options) (MigrationResult, error) {
	u := opts.MigrationURL
	if u == "" {
		u = opts.URL
	}
	owner, err := open(ctx, Options{DataDir: opts.DataDir, MaxConns: 2}, u, false)
	if err != nil {
		return MigrationResult{}, err
	}
	defer owner.Close()

	if owner.dialect == Postgres {
		conn, err := owner.write.Conn(ctx)
		if err != nil {
			return MigrationResult{}, fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", int64(migrationLockID)); err != nil {
			return MigrationResult{}, fmt.Errorf("migrate: take lock: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", int64(migrationLockID))
		}()
	}
	return owner.migrate(ctx)
}

func (d *DB) migrator() (*migrate.Migrator, error) {
	ms, err := migrations(d.dialect)
	if err != nil {
		return nil, err
	}
	return migrate.NewMigrator(d.write, ms,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationsTable+"_locks"),
		migrate.WithMarkAppliedOnSuccess(true),
	), nil
}

func (d *DB) migrate(ctx context.Context) (MigrationResult, error) {
	m, err := d.migrator()
	if err != nil {
		return MigrationResult{}, err
	}
	if err := m.Init(ctx); err != nil {
		return MigrationResult{}, fmt.Errorf("migrate: init: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("migrate: %w", err)
	}
	res := MigrationResult{Applied: []string{}}
	for _, mg := range group.Migrations {
		res.Applied = append(res.Applied, mg.Name)
	}
	return res, nil
}

// Pending lists the migrations not yet applied, as readiness reports them.
func (d *DB) Pending(ctx context.Context) ([]string, error) {
	m, err := d.migrator()
	if err != nil {
		return nil, err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	var names []string
	for _, mg := range ms.Unapplied() {
		names = append(names, mg.Name)
	}
	return names, nil
}

var _ bun.IDB = (*bun.DB)(nil)
