package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func insertTenant(ctx context.Context, tx bun.IDB, t *Tenant) error {
	if _, err := tx.NewInsert().Model(t).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return problem.Conflict("duplicate_slug", fmt.Sprintf("a tenant with slug %q already exists", t.Slug))
		}
		return fmt.Errorf("insert tenant: %w", err)
	}
	return nil
}

func selectTenantBySlug(ctx context.Context, tx bun.IDB, slug string) (Tenant, error) {
	var t Tenant
	err := tx.NewSelect().Model(&t).Where("t.slug = ?", slug).Scan(ctx)
	if db.IsNotFound(err) {
		return Tenant{}, problem.NotFound("tenant", slug)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("load tenant %s: %w", slug, err)
	}
	return t, nil
}

func selectTenants(ctx context.Context, tx bun.IDB, after string, limit int) ([]Tenant, error) {
	var ts []Tenant
	q := tx.NewSelect().Model(&ts).OrderExpr("t.id ASC").Limit(int64(limit))
	if after != "" {
		q = q.Where("t.id > ?", after)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

func updateTenantStatus(ctx context.Context, tx bun.IDB, id, status string, now time.Time) error {
	_, err := tx.NewUpdate().Model((*Tenant)(nil)).
		Set("status = ?", status).Set("updated_at = ?", now).
		Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("update tenant %s: %w", id, err)
	}
	return nil
}

func insertKey(ctx context.Context, tx bun.IDB, k *APIKey) error {
	if _, err := tx.NewInsert().Model(k).Exec(ctx); err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// keyRow is a key with its tenant, as db.LookupKey returns it.
type keyRow struct {
	KeyTenantID     string     `bun:"key_tenant_id"`
	KeyID           string     `bun:"key_id"`
	KeyName         string     `bun:"key_name"`
	KeyRole         Role       `bun:"key_role"`
	KeyHash         string     `bun:"key_hash"`
	KeySecretPrefix string     `bun:"key_secret_prefix"`
	KeyCreatedAt    time.Time  `bun:"key_created_at"`
	KeyLastUsedAt   *time.Time `bun:"key_last_used_at"`
	KeyRevokedAt    *time.Time `bun:"key_revoked_at"`
	TenantSlug      string     `bun:"tenant_slug"`
	TenantName      string     `bun:"tenant_name"`
	TenantCurrency  string     `bun:"tenant_currency"`
	TenantTimezone  string     `bun:"tenant_timezone"`
	TenantStatus    string     `bun:"tenant_status"`
	TenantCreatedAt time.Time  `bun:"tenant_created_at"`
	TenantUpdatedAt time.Time  `bun:"tenant_updated_at"`
}

// lookupKey finds a key by hash (or by id when keyHash is empty) with its tenant,
// in one round trip.
func lookupKey(ctx context.Context, d *db.DB, keyHash, keyID string) (APIKey, Tenant, error) {
	var r keyRow
	if err := d.LookupKey(ctx, keyHash, keyID, &r); err != nil {
		return APIKey{}, Tenant{}, err
	}
	k := APIKey{TenantID: r.KeyTenantID, ID: r.KeyID, Name: r.KeyName, Role: r.KeyRole, KeyHash: r.KeyHash,
		SecretPrefix: r.KeySecretPrefix, CreatedAt: r.KeyCreatedAt, LastUsedAt: r.KeyLastUsedAt, RevokedAt: r.KeyRevokedAt}
	t := Tenant{ID: r.KeyTenantID, Slug: r.TenantSlug, Name: r.TenantName, Currency: r.TenantCurrency,
		Timezone: r.TenantTimezone, Status: r.TenantStatus, CreatedAt: r.TenantCreatedAt, UpdatedAt: r.TenantUpdatedAt}
	return k, t, nil
}

func selectKeyByID(ctx context.Context, tx bun.IDB, id string) (APIKey, error) {
	var k APIKey
	err := tx.NewSelect().Model(&k).Where("k.id = ?", id).Scan(ctx)
	if db.IsNotFound(err) {
		return APIKey{}, problem.NotFound("api_key", id)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("load api key %s: %w", id, err)
	}
	return k, nil
}

func selectKeys(ctx context.Context, tx bun.IDB, tenantID string) ([]APIKey, error) {
	var ks []APIKey
	err := tx.NewSelect().Model(&ks).Where("k.tenant_id = ?", tenantID).OrderExpr("k.id ASC").Limit(1000).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return ks, nil
}

func revokeKey(ctx context.Context, tx bun.IDB, tenantID, id string, now time.Time) (bool, error) {
	res, err := tx.NewUpdate().Model((*APIKey)(nil)).Set("revoked_at = ?", now).
		Where("tenant_id = ?", tenantID).Where("id = ?", id).Where("revoked_at IS NULL").Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func touchKey(ctx context.Context, tx bun.IDB, tenantID, id string, now time.Time) error {
	_, err := tx.NewUpdate().Model((*APIKey)(nil)).Set("last_used_at = ?", now).
		Where("tenant_id = ?", tenantID).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("touch api key %s: %w", id, err)
	}
	return nil
}
