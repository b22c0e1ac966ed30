package tenants

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Role is what an API key may do.
type Role string

// The roles of API keys.
const (
	RoleAdmin     Role = "admin"     // everything in the tenant
	RoleMarketer  Role = "marketer"  // campaigns, vouchers, customers, loyalty, reports
	RoleSupport   Role = "support"   // customers and their history, read campaigns
	RoleAuditor   Role = "auditor"   // read-only: audit log and reports
	RoleDeveloper Role = "developer" // policies, plugins, webhooks, and the integration API
	RolePOS       Role = "pos"       // validate, redeem, customers only
)

// Roles lists every role, for validation and documentation.
var Roles = []Role{RoleAdmin, RoleMarketer, RoleSupport, RoleAuditor, RoleDeveloper, RolePOS}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles, r) {
		return "", problem.Invalidf("role", "role %q is not one of admin, marketer, support, auditor, developer, pos", s)
	}
	return r, nil
}

// APIKey is a stored key. The secret itself is never stored.
type APIKey struct {
	bun.BaseModel `bun:"table:api_keys,alias:k"`

	TenantID     string     `bun:"tenant_id,pk" json:"tenant_id"`
	ID           string     `bun:"id,pk" json:"id"`
	Name         string     `bun:"name" json:"name,omitempty"`
	Role         Role       `bun:"role" json:"role"`
	KeyHash      string     `bun:"key_hash" json:"-"`
	SecretPrefix string     `bun:"secret_prefix" json:"secret_prefix"`
	CreatedAt    time.Time  `bun:"created_at" json:"created_at"`
	LastUsedAt   *time.Time `bun:"last_used_at" json:"last_used_at"`
	RevokedAt    *time.Time `bun:"revoked_at" json:"revoked_at"`
}

// NewKey is a key just created: the only moment its secret is known.
type NewKey struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	Role   Role   `json:"role"`
}

// secretPrefix marks Punchcard secret keys so scanners can find leaked ones.
const secretPrefix = "sk_"

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Principal is the authenticated caller of a tenant API request.
type Principal struct {
	Tenant Tenant
	KeyID  string
	Role   Role
}
