package tenants_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

func newService(t *testing.T) (*tenants.Service, *audit.Log, *time.Time) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := db.Migrate(ctx, db.Options{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, db.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := audit.New(d, clock)
	return tenants.NewService(d, a, clock), a, &now
}

func TestCreateTenantValidatesEveryField(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		in    tenants.NewTenant
		field string
	}{
		{"empty slug", tenants.NewTenant{}, "slug"},
		{"upper case slug", tenants.NewTenant{Slug: "Acme"}, "slug"},
		{"slug with space", tenants.NewTenant{Slug: "ac me"}, "slug"},
		{"long slug", tenants.NewTenant{Slug: strings.Repeat("a", 64)}, "slug"},
		{"unknown currency", tenants.NewTenant{Slug: "a1", Currency: "XYZ1"}, "currency"},
		{"lower-case currency", tenants.NewTenant{Slug: "a2", Currency: "usd"}, "currency"},
		{"unknown zone", tenants.NewTenant{Slug: "a3", Timezone: "Europe/Atlantis"}, "timezone"},
		{"local zone", tenants.NewTenant{Slug: "a4", Timezone: "Local"}, "timezone"},
		{"long name", tenants.NewTenant{Slug: "a5", Name: strings.Repeat("n", 201)}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateTenant(ctx, tt.in)
			p, ok := problem.As(err)
			if !ok || p.Kind != problem.KindInvalid || p.Field != tt.field {
				t.Fatalf("CreateTenant(%+v) = %v, want invalid %s", tt.in, err, tt.field)
			}
		})
	}
	ts, err := s.ListTenants(ctx, "", 100)
	if err != nil || len(ts) != 0 {
		t.Fatalf("invalid input wrote tenants: %v %v", ts, err)
	}
}

func TestAuthenticate(t *testing.T) {
	s, a, now := newService(t)
	ctx := context.Background()
	c, err := s.CreateTenant(ctx, tenants.NewTenant{Slug: "acme", Name: "Acme", Currency: "USD", Timezone: "America/New_York"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant.Currency != "USD" || c.APIKey.Role != tenants.RoleAdmin || !strings.HasPrefix(c.APIKey.Secret, "sk_") {
		t.Fatalf("created %+v", c)
	}
	p, err := s.Authenticate(ctx, c.APIKey.Secret, "", "")
	if err != nil || p.Tenant.ID != c.Tenant.ID || p.Role != tenants.RoleAdmin || p.KeyID != c.APIKey.ID {
		t.Fatalf("bearer: %+v %v", p, err)
	}
	if p, err := s.Authenticate(ctx, "", c.APIKey.ID, c.APIKey.Secret); err != nil || p.Tenant.ID != c.Tenant.ID {
		t.Fatalf("app id pair: %+v %v", p, err)
	}
	other, err := s.CreateTenant(ctx, tenants.NewTenant{Slug: "other"})
	if err != nil {
		t.Fatal(err)
	}
	for name, creds := range map[string][3]string{
		"nothing":               {"", "", ""},
		"wrong secret":          {"sk_wrong", "", ""},
		"id with other's token": {"", c.APIKey.ID, other.APIKey.Secret},
		"no prefix":             {"abc", "", ""},
	} {
		if _, err := s.Authenticate(ctx, creds[0], creds[1], creds[2]); !problem.Is(err, problem.KindUnauthorized) {
			t.Errorf("%s: err = %v, want unauthorized", name, err)
		}
	}
	// Suspension is a 403; revocation a 401.
	if _, err := s.SetStatus(ctx, "acme", tenants.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, c.APIKey.Secret, "", ""); !problem.Is(err, problem.KindForbidden) {
		t.Fatalf("suspended: err = %v", err)
	}
	if _, err := s.SetStatus(ctx, "acme", tenants.StatusActive); err != nil {
		t.Fatal(err)
	}
	k, err := s.CreateKey(ctx, "acme", tenants.RolePOS, "till 1")
	if err != nil {
		t.Fatal(err)
	}
	*now = now.Add(2 * time.Minute)
	if p, err := s.Authenticate(ctx, k.Secret, "", ""); err != nil || p.Role != tenants.RolePOS {
		t.Fatalf("pos key: %+v %v", p, err)
	}
	if _, err := s.RevokeKeyByID(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, k.Secret, "", ""); !problem.Is(err, problem.KindUnauthorized) {
		t.Fatalf("revoked: err = %v", err)
	}
	if err := s.RevokeTenantKey(ctx, other.Tenant.ID, c.APIKey.ID); !problem.Is(err, problem.KindNotFound) {
		t.Fatalf("revoking another tenant's key: %v, want not found", err)
	}
	keys, err := s.ListKeys(ctx, c.Tenant.ID)
	if err != nil || len(keys) != 2 || keys[0].LastUsedAt == nil {
		t.Fatalf("keys = %+v, %v (want 2, last use recorded)", keys, err)
	}
	// Every mutation was audited and the chain holds.
	v, err := a.Verify(ctx, c.Tenant.ID)
	if err != nil || !v.Valid || v.Events != 6 {
		t.Fatalf("verify = %+v, %v; want 6 events: created, key, suspended, activated, key, revoked", v, err)
	}
}
