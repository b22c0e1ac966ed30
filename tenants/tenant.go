// Package tenants owns the brands that share a Punchcard instance and the API keys
// through which they reach it: creating, listing and suspending tenants, minting and
// revoking keys (secrets shown once, stored as SHA-256 hashes), the roles that keys
// carry, and authenticating a request's credentials to a Principal. The tenant of a
// request comes from its key and from nothing else.
package tenants

import (
	"regexp"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/text/currency"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Tenant is one brand on the instance.
type Tenant struct {
	bun.BaseModel `bun:"table:tenants,alias:t"`

	ID        string    `bun:"id,pk" json:"id"`
	Slug      string    `bun:"slug" json:"slug"`
	Name      string    `bun:"name" json:"name"`
	Currency  string    `bun:"currency" json:"currency"`
	Timezone  string    `bun:"timezone" json:"timezone"`
	Status    string    `bun:"status" json:"status"`
	CreatedAt time.Time `bun:"created_at" json:"created_at"`
	UpdatedAt time.Time `bun:"updated_at" json:"updated_at"`
}

// Location returns the tenant's time zone (UTC if it cannot be loaded, which
// validation at creation rules out).
func (t Tenant) Location() *time.Location {
	loc, err := time.LoadLocation(t.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// NewTenant is the input of CreateTenant.
type NewTenant struct {
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Timezone string `json:"timezone"`
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// normalize fills defaults and checks every field, naming the first bad one.
func (n *NewTenant) normalize() error {
	n.Slug = strings.TrimSpace(n.Slug)
	n.Name = strings.TrimSpace(n.Name)
	if n.Currency == "" {
		n.Currency = "EUR"
	}
	if n.Timezone == "" {
		n.Timezone = "UTC"
	}
	if !slugPattern.MatchString(n.Slug) {
		return problem.Invalidf("slug", "slug %q must be 1-63 lowercase letters, digits or '-', starting with a letter or digit", n.Slug)
	}
	if n.Name == "" {
		n.Name = n.Slug
	}
	if len(n.Name) > 200 {
		return problem.Invalid("name", "name must be at most 200 characters")
	}
	cur, err := currency.ParseISO(n.Currency)
	if err != nil || cur.String() != n.Currency {
		return problem.Invalidf("currency", "currency %q is not an ISO 4217 code such as EUR or USD", n.Currency)
	}
	if n.Timezone == "Local" {
		return problem.Invalid("timezone", `timezone must be an IANA name such as "Europe/Berlin"`)
	}
	if _, err := time.LoadLocation(n.Timezone); err != nil {
		return problem.Invalidf("timezone", "timezone %q is not an IANA time zone such as Europe/Berlin", n.Timezone)
	}
	return nil
}
