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

func selectTenantByID(ctx context.Context, tx bun.IDB, id string) (Tenant, error) {
	var t Tenant
	err := tx.NewSelect().Model(&t).Where("t.id = ?", id).Scan(ctx)
	if db.IsNotFound(err) {
		return Tenant{}, problem.NotFound("tenant", id)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("load tenant %s: %w", id, err)
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

// selectKey finds a key by hash or by id, with its tenant. Run it in db.ReadKey.
func selectKey(ctx context.Context, tx bun.IDB, keyHash, keyID string) (APIKey, error) {
	var k APIKey
	q := tx.NewSelect().Model(&k)
	if keyHash != "" {
		q = q.Where("k.key_hash = ?", keyHash)
	} else {
		q = q.Where("k.id = ?", keyID)
	}
	err := q.Scan(ctx)
	if err != nil {
		return APIKey{}, err
	}
	return k, nil
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
