// Package customers owns a tenant's customers: Voucherify-shaped profiles upserted
// by source_id, their metadata and consents, listing them with Voucherify's filters
// and paging, and deleting them, down to the permanent erasure of their personal
// data (GDPR) that leaves only opaque ids in ledgers and the audit log.
package customers

import (
	"time"

	"github.com/uptrace/bun"
)

// Customer is one customer of a tenant. Empty strings are stored as NULL.
type Customer struct {
	bun.BaseModel `bun:"table:customers,alias:c"`

	TenantID    string         `bun:"tenant_id,pk"`
	ID          string         `bun:"id,pk"`
	SourceID    string         `bun:"source_id,nullzero"`
	Name        string         `bun:"name,nullzero"`
	Email       string         `bun:"email,nullzero"`
	Phone       string         `bun:"phone,nullzero"`
	Birthdate   string         `bun:"birthdate,nullzero"` // YYYY-MM-DD
	Description string         `bun:"description,nullzero"`
	Address     *Address       `bun:"address,type:jsonb,nullzero"`
	Metadata    map[string]any `bun:"metadata,type:jsonb,nullzero,json_use_number"`
	CreatedAt   time.Time      `bun:"created_at"`
	UpdatedAt   time.Time      `bun:"updated_at"`
}

// Address is a customer's postal address, Voucherify's address object.
type Address struct {
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	Line1      string `json:"line_1,omitempty"`
	Line2      string `json:"line_2,omitempty"`
	Country    string `json:"country,omitempty" jsonschema:"description=Country name or ISO 3166 code"`
	PostalCode string `json:"postal_code,omitempty"`
}

func (a *Address) empty() bool { return a == nil || *a == Address{} }

// Deletion is the record of a permanent deletion: what was erased and when. Its
// counts follow Voucherify's permanent-deletion object; kinds of data Punchcard
// does not hold are always zero.
type Deletion struct {
	ID         string
	CreatedAt  time.Time
	CustomerID string
	Status     string // DeletionDone
	Counts     DeletionCounts
}

// DeletionDone is the status of a finished deletion. Erasure is synchronous, so it
// is the only one.
const DeletionDone = "DONE"

// DeletionCounts is how many rows of each kind a deletion removed.
type DeletionCounts struct {
	Events         int64
	CustomerEvents int64
	DailyEvents    int64
	Segments       int64
	Orders         int64
	OrderEvents    int64
	Customer       int64
	Consents       int64
}
