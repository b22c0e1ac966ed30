package tenants

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// lastUsedGranularity bounds how often authentication writes a key's last_used_at,
// so that a busy key does not turn every read into a write.
const lastUsedGranularity = time.Minute

// Service manages tenants and keys and authenticates requests.
type Service struct {
	db    *db.DB
	audit *audit.Log
	now   func() time.Time
	keys  *keyCache
}

// NewService returns the tenant service.
func NewService(d *db.DB, a *audit.Log, now func() time.Time) *Service {
	return &Service{db: d, audit: a, now: now, keys: newKeyCache()}
}

// Created is a new tenant with its first (admin) key.
type Created struct {
	Tenant Tenant `json:"tenant"`
	APIKey NewKey `json:"api_key"`
}

// CreateTenant creates a tenant and its first admin key in one transaction.
func (s *Service) CreateTenant(ctx context.Context, in NewTenant) (Created, error) {
	if err := in.normalize(); err != nil {
		return Created{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	t := Tenant{
		ID: ids.New(ids.Tenant), Slug: in.Slug, Name: in.Name, Currency: in.Currency,
		Timezone: in.Timezone, Status: StatusActive, CreatedAt: now, UpdatedAt: now,
	}
	var out Created
	err := s.db.InInstanceTx(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
		if err := insertTenant(ctx, tx, &t); err != nil {
			return err
		}
		if _, err := s.audit.Record(ctx, tx, t.ID, audit.Entry{
			Action: "tenant.created", ResourceType: "tenant", ResourceID: t.ID,
			After: map[string]any{"slug": t.Slug, "currency": t.Currency, "timezone": t.Timezone, "status": t.Status},
		}); err != nil {
			return err
		}
		k, err := s.createKey(ctx, tx, t.ID, RoleAdmin, "initial admin key", now)
		if err != nil {
			return err
		}
		out = Created{Tenant: t, APIKey: k}
		return nil
	})
	return out, err
}

func (s *Service) createKey(ctx context.Context, tx bun.IDB, tenantID string, role Role, name string, now time.Time) (NewKey, error) {
	secret := secretPrefix + ids.Secret(32)
	k := APIKey{
		TenantID: tenantID, ID: ids.New(ids.APIKey), Name: name, Role: role,
		KeyHash: hashSecret(secret), SecretPrefix: secret[:10], CreatedAt: now,
	}
	if err := insertKey(ctx, tx, &k); err != nil {
		return NewKey{}, err
	}
	if _, err := s.audit.Record(ctx, tx, tenantID, audit.Entry{
		Action: "api_key.created", ResourceType: "api_key", ResourceID: k.ID,
		After: map[string]any{"role": k.Role, "name": k.Name},
	}); err != nil {
		return NewKey{}, err
	}
	return NewKey{ID: k.ID, Secret: secret, Role: role}, nil
}

// TenantBySlug returns the tenant with the given slug.
func (s *Service) TenantBySlug(ctx context.Context, slug string) (Tenant, error) {
	var t Tenant
	err := s.db.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
		var err error
		t, err = selectTenantBySlug(ctx, tx, slug)
		return err
	})
	return t, err
}

// ListTenants returns up to limit tenants after the given id, in creation order.
func (s *Service) ListTenants(ctx context.Context, after string, limit int) ([]Tenant, error) {
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	var ts []Tenant
	err := s.db.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
		var err error
		ts, err = selectTenants(ctx, tx, after, limit)
		return err
	})
	return ts, err
}

// SetStatus suspends or reactivates the tenant with the given slug. A suspended
// tenant's keys get 403 on every call.
func (s *Service) SetStatus(ctx context.Context, slug, status string) (Tenant, error) {
	if status != StatusActive && status != StatusSuspended {
		return Tenant{}, problem.Invalidf("status", "status %q is not active or suspended", status)
	}
	var t Tenant
	err := s.db.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
		var err error
		if t, err = selectTenantBySlug(ctx, tx, slug); err != nil {
			return err
		}
		if t.Status == status {
			return nil
		}
		before := t.Status
		t.Status, t.UpdatedAt = status, s.now().UTC().Truncate(time.Microsecond)
		if err := updateTenantStatus(ctx, tx, t.ID, status, t.UpdatedAt); err != nil {
			return err
		}
		// The audit event belongs to the tenant; scope the rest of the transaction to it.
		return s.recordInTenant(ctx, tx, t.ID, audit.Entry{
			Action:       "tenant." + map[string]string{StatusActive: "activated", StatusSuspended: "suspended"}[status],
			ResourceType: "tenant", ResourceID: t.ID,
			Before: map[string]any{"status": before}, After: map[string]any{"status": status},
		})
	})
	if err == nil {
		s.keys.forget("", t.ID)
	}
	return t, err
}

func (s *Service) recordInTenant(ctx context.Context, tx bun.Tx, tenantID string, e audit.Entry) error {
	if err := s.db.SetTenant(ctx, tx, tenantID); err != nil {
		return err
	}
	_, err := s.audit.Record(ctx, tx, tenantID, e)
	return err
}

// CreateKey mints a key with the given role for the tenant with the given slug.
func (s *Service) CreateKey(ctx context.Context, slug string, role Role, name string) (NewKey, error) {
	t, err := s.TenantBySlug(ctx, slug)
	if err != nil {
		return NewKey{}, err
	}
	return s.CreateTenantKey(ctx, t.ID, role, name)
}

// CreateTenantKey mints a key for tenantID.
func (s *Service) CreateTenantKey(ctx context.Context, tenantID string, role Role, name string) (NewKey, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return NewKey{}, err
	}
	if len(name) > 200 {
		return NewKey{}, problem.Invalid("name", "name must be at most 200 characters")
	}
	var k NewKey
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		k, err = s.createKey(ctx, tx, tenantID, role, name, s.now().UTC().Truncate(time.Microsecond))
		return err
	})
	return k, err
}

// ListKeys returns the tenant's keys, secrets excluded.
func (s *Service) ListKeys(ctx context.Context, tenantID string) ([]APIKey, error) {
	var ks []APIKey
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		ks, err = selectKeys(ctx, tx, tenantID)
		return err
	})
	return ks, err
}

// RevokeKeyByID revokes the key with the given id on behalf of the operator, who
// may name any tenant's key.
func (s *Service) RevokeKeyByID(ctx context.Context, keyID string) (APIKey, error) {
	var k APIKey
	err := s.db.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
		var err error
		if k, err = selectKeyByID(ctx, tx, keyID); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return APIKey{}, err
	}
	if err := s.RevokeTenantKey(ctx, k.TenantID, keyID); err != nil {
		return APIKey{}, err
	}
	if k.RevokedAt == nil {
		at := s.now().UTC().Truncate(time.Microsecond)
		k.RevokedAt = &at
	}
	return k, nil
}

// RevokeTenantKey revokes one of tenantID's keys. Another tenant's key is not found.
func (s *Service) RevokeTenantKey(ctx context.Context, tenantID, keyID string) error {
	defer s.keys.forget(keyID, "")
	return s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		ok, err := revokeKey(ctx, tx, tenantID, keyID, s.now().UTC().Truncate(time.Microsecond))
		if err != nil {
			return err
		}
		if !ok {
			k, err := selectKeyByID(ctx, tx, keyID)
			if err != nil || k.TenantID != tenantID {
				return problem.NotFound("api_key", keyID)
			}
			return nil // already revoked: revoking is idempotent
		}
		_, err = s.audit.Record(ctx, tx, tenantID, audit.Entry{
			Action: "api_key.revoked", ResourceType: "api_key", ResourceID: keyID,
		})
		return err
	})
}

// Authenticate resolves credentials to a Principal: a bearer secret, or the
// Voucherify pair of key id and token. It fails with a 401 problem for missing,
// unknown, wrong or revoked credentials and a 403 problem for a suspended tenant.
// A key found in the last keyCacheTTL is not looked up again: a revocation or
// suspension made elsewhere takes effect here within that time.
func (s *Service) Authenticate(ctx context.Context, bearer, appID, appToken string) (Principal, error) {
	var hash, keyID, secret string
	switch {
	case bearer != "":
		secret = bearer
		hash = hashSecret(bearer)
	case appID != "" && appToken != "":
		keyID, secret = appID, appToken
	default:
		return Principal{}, problem.Unauthorized("send Authorization: Bearer <secret key> or X-App-Id and X-App-Token")
	}
	if !strings.HasPrefix(secret, secretPrefix) || len(secret) > 128 {
		return Principal{}, problem.Unauthorized("invalid API key")
	}
	cred := "h:" + hash
	if hash == "" {
		cred = "i:" + keyID
	}
	k, t, ok := s.keys.get(cred)
	if !ok {
		var err error
		k, t, err = lookupKey(ctx, s.db, hash, keyID)
		if db.IsNotFound(err) {
			return Principal{}, problem.Unauthorized("invalid API key")
		}
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
		s.keys.put(cred, k, t)
	}
	if subtle.ConstantTimeCompare([]byte(k.KeyHash), []byte(hashSecret(secret))) != 1 {
		return Principal{}, problem.Unauthorized("invalid API key")
	}
	if k.RevokedAt != nil {
		return Principal{}, problem.Unauthorized("this API key was revoked")
	}
	now := s.now().UTC()
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > lastUsedGranularity {
		err := s.db.InTx(ctx, k.TenantID, func(ctx context.Context, tx bun.Tx) error {
			return touchKey(ctx, tx, k.TenantID, k.ID, now.Truncate(time.Microsecond))
		})
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
		s.keys.touched(k.ID, now.Truncate(time.Microsecond))
	}
	if t.Status != StatusActive {
		return Principal{}, problem.Forbidden("tenant_suspended", "this tenant is suspended; contact the operator")
	}
	return Principal{Tenant: t, KeyID: k.ID, Role: k.Role}, nil
}
