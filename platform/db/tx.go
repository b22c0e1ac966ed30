package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// The transaction-local settings that the PostgreSQL row-level security policies
// read. They are set with set_config(…, true), the bind-parameter form of SET LOCAL,
// so they end with the transaction and never leak through a pooled connection
// (PgBouncer in transaction mode included).
const (
	settingTenant = "punchcard.tenant_id"
	settingScope  = "punchcard.scope"
)

// ErrNoTenant is returned when tenant work is started without a tenant id.
var ErrNoTenant = errors.New("db: tenant id is required")

// InTx runs fn in a read-write transaction scoped to tenantID, committing when fn
// returns nil and rolling back otherwise. On SQLite the transaction takes the write
// lock at BEGIN (BEGIN IMMEDIATE), so writers never deadlock on lock upgrades.
func (d *DB) InTx(ctx context.Context, tenantID string, fn func(ctx context.Context, tx bun.Tx) error) error {
	if tenantID == "" {
		return ErrNoTenant
	}
	ctx = telemetry.WithTenant(ctx, tenantID)
	return d.run(ctx, d.writeRef, nil, []string{settingTenant, tenantID}, fn)
}

// Read runs fn in a read-only transaction scoped to tenantID. On SQLite it uses the
// reader pool, so reads never wait for the writer.
func (d *DB) Read(ctx context.Context, tenantID string, fn func(ctx context.Context, tx bun.Tx) error) error {
	if tenantID == "" {
		return ErrNoTenant
	}
	ctx = telemetry.WithTenant(ctx, tenantID)
	return d.run(ctx, d.readRef, &sql.TxOptions{ReadOnly: true}, []string{settingTenant, tenantID}, fn)
}

// ReadEach runs fn with the tenant's reads, like Read, but on SQLite without a
// transaction around them: each statement reads the latest committed state on
// its own, which saves a BEGIN and a COMMIT. It suits reads that need no single
// snapshot, such as a validation's, whose writes, if any, check again what they
// rely on. On PostgreSQL the tenant's scope is a transaction setting, so fn runs
// in a read-only transaction as with Read.
func (d *DB) ReadEach(ctx context.Context, tenantID string, fn func(ctx context.Context, q bun.IDB) error) error {
	if d.dialect == Postgres {
		return d.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error { return fn(ctx, tx) })
	}
	if tenantID == "" {
		return ErrNoTenant
	}
	ctx = context.WithValue(telemetry.WithTenant(ctx, tenantID), poolKey{}, d.readRef)
	return fn(ctx, d.readRef.h)
}

// InInstanceTx runs fn in a read-write transaction with instance scope: the
// operator's view of the tenant directory (tenants, API keys) and the audit sealer's
// view of pending work. Tenant data tables stay closed to it on PostgreSQL.
// tenantID, when not empty, additionally scopes the transaction to that tenant (to
// create a tenant together with its first key and audit event).
func (d *DB) InInstanceTx(ctx context.Context, tenantID string, fn func(ctx context.Context, tx bun.Tx) error) error {
	if tenantID != "" {
		ctx = telemetry.WithTenant(ctx, tenantID)
	}
	settings := []string{settingScope, "instance"}
	if tenantID != "" {
		settings = append(settings, settingTenant, tenantID)
	}
	return d.run(ctx, d.writeRef, nil, settings, fn)
}

// ReadInstance runs fn in a read-only transaction with instance scope, for
// work that watches every tenant (the policy activation poll). On PostgreSQL,
// only tables whose policies open them to instance scope show rows.
func (d *DB) ReadInstance(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return d.run(ctx, d.readRef, &sql.TxOptions{ReadOnly: true}, []string{settingScope, "instance"}, fn)
}

// LookupKey finds the API key with the given hash (or, when keyHash is empty, the
// given id) together with its tenant, in one round trip and outside any tenant
// scope: authentication runs before a tenant is known. On PostgreSQL it calls
// punchcard_lookup_key, which shows row-level security that one key and nothing
// else. dest receives the columns key_tenant_id, key_id, key_name, key_role,
// key_hash, key_secret_prefix, key_created_at, key_last_used_at, key_revoked_at,
// tenant_slug, tenant_name, tenant_currency, tenant_timezone, tenant_status,
// tenant_created_at and tenant_updated_at. No row gives sql.ErrNoRows.
func (d *DB) LookupKey(ctx context.Context, keyHash, keyID string, dest any) error {
	if d.dialect == Postgres {
		return d.read.NewRaw("SELECT * FROM punchcard_lookup_key(?, ?)", keyHash, keyID).Scan(ctx, dest)
	}
	if keyHash != "" {
		return d.read.NewRaw(lookupKeySQLite+"k.key_hash = ?", keyHash).Scan(ctx, dest)
	}
	if keyID != "" {
		return d.read.NewRaw(lookupKeySQLite+"k.id = ?", keyID).Scan(ctx, dest)
	}
	return sql.ErrNoRows
}

const lookupKeySQLite = `SELECT k.tenant_id AS key_tenant_id, k.id AS key_id, k.name AS key_name,
	k.role AS key_role, k.key_hash AS key_hash, k.secret_prefix AS key_secret_prefix,
	k.created_at AS key_created_at, k.last_used_at AS key_last_used_at,
	k.revoked_at AS key_revoked_at, t.slug AS tenant_slug, t.name AS tenant_name,
	t.currency AS tenant_currency, t.timezone AS tenant_timezone, t.status AS tenant_status,
	t.created_at AS tenant_created_at, t.updated_at AS tenant_updated_at
FROM api_keys AS k JOIN tenants AS t ON t.id = k.tenant_id
WHERE `

// set assigns transaction-local settings, given as name, value pairs, in one round
// trip.
func (d *DB) set(ctx context.Context, tx bun.Tx, pairs ...string) error {
	if d.dialect != Postgres {
		return nil
	}
	q := "SELECT set_config(?, ?, true)"
	args := make([]any, 0, len(pairs))
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			q += ", set_config(?, ?, true)"
		}
		args = append(args, pairs[i], pairs[i+1])
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("set %s: %w", pairs[0], err)
	}
	return nil
}

// SetTenant scopes the rest of an instance transaction to tenantID, for operator
// work that records an audit event in the tenant it changes.
func (d *DB) SetTenant(ctx context.Context, tx bun.Tx, tenantID string) error {
	return d.set(ctx, tx, settingTenant, tenantID)
}

// run begins a transaction on pool with the given settings (name, value pairs;
// PostgreSQL only) and runs fn in it.
func (d *DB) run(ctx context.Context, pool *poolRef, opts *sql.TxOptions, settings []string, fn func(ctx context.Context, tx bun.Tx) error) (err error) {
	ctx = context.WithValue(ctx, poolKey{}, pool)
	var begin *txSettings
	if d.dialect == Postgres {
		// In fn's context too, for WriteLast.
		begin = &txSettings{pairs: settings}
		ctx = context.WithValue(ctx, txSettingsKey{}, begin)
	}
	tx, err := pool.h.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if begin != nil && !begin.applied {
		if err := d.set(ctx, tx, settings...); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := fn(ctx, tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Bun returns the writer handle without any tenant scoping, for migration status
// and instance maintenance. On PostgreSQL it still runs as the serving role.
func (d *DB) Bun() *bun.DB { return d.write }
