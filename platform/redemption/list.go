package redemption

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// MaxPage is the largest page of GET /v1/redemptions.
const MaxPage = 100

// Filter selects redemptions and rollbacks, newest first unless Order says
// otherwise.
type Filter struct {
	Limit         int
	Page          int    // 1-based page number (Voucherify's page); 0 is the first
	StartingAfter string // the id of the last record of the previous page (newest-first order only)
	Order         string // Voucherify's order: created_at, id, customer_id or voucher_code, "-" for descending
	Result        string // SUCCESS or FAILURE (every stored record succeeded)
	Status        string // SUCCEEDED or ROLLED_BACK
	Campaign      string // a campaign's id or name
	Customer      string // a customer's id or source_id
	OrderID       string
	ParentID      string
	Kind          string // redemption or rollback
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Conditions    []Condition // Voucherify's filters, all of which hold
}

// Condition is one of Voucherify's list filters: Field's value is one of
// Values, or with Not is none of them (a record without a value is none of
// them). Field is a key of FilterFields.
type Condition struct {
	Field  string
	Not    bool
	Values []string
}

// FilterFields are the fields a Condition may name, Voucherify's filter names,
// with their columns.
var FilterFields = map[string]string{
	"voucher_code":             "rd.voucher_code",
	"related_object_parent_id": "rd.campaign_id",
	"parent_redemption_id":     "rd.parent_id",
	"customer_id":              "rd.customer_id",
	"object":                   "rd.kind", // redemption or rollback
}

// listOrders are the sorts of Filter.Order, by Voucherify's name; the record
// id breaks ties. Ids are time-ordered only within a kind (a rollback's prefix,
// rr_, sorts after a redemption's, r_), so time is created_at.
var listOrders = map[string]string{
	"-created_at": "rd.created_at DESC, rd.id DESC", "created_at": "rd.created_at ASC, rd.id ASC", "-id": "rd.id DESC", "id": "rd.id ASC",
	"-customer_id": "rd.customer_id DESC, rd.id DESC", "customer_id": "rd.customer_id ASC, rd.id ASC",
	"-voucher_code": "rd.voucher_code DESC, rd.id DESC", "voucher_code": "rd.voucher_code ASC, rd.id ASC",
}

// check refuses a filter the list cannot serve, naming the query parameter.
func (f *Filter) check() error {
	for _, c := range f.Conditions {
		if _, ok := FilterFields[c.Field]; !ok || len(c.Values) == 0 {
			return problem.Invalidf("filters["+c.Field+"]", "filters[%s] is not a filter of redemptions", c.Field)
		}
	}
	if f.Limit <= 0 {
		f.Limit = 10
	}
	f.Limit = min(f.Limit, MaxPage)
	if f.Page < 0 || f.Page > campaigns.MaxPageNumber {
		return problem.Invalidf("page", "page must be between 1 and %d", campaigns.MaxPageNumber)
	}
	if f.Order == "" {
		f.Order = "-created_at"
	}
	if _, ok := listOrders[f.Order]; !ok {
		return problem.Invalid("order", "order must be created_at, id, customer_id or voucher_code, with - for descending")
	}
	if f.StartingAfter != "" && f.Order != "-created_at" && f.Order != "-id" {
		return problem.Invalid("starting_after", "starting_after pages the newest-first order only")
	}
	return nil
}

// where adds f's conditions to q.
func (f Filter) where(q *bun.SelectQuery, tenantID string) *bun.SelectQuery {
	q = q.Where("rd.tenant_id = ?", tenantID)
	for col, v := range map[string]string{"rd.status": f.Status, "rd.order_id": f.OrderID, "rd.parent_id": f.ParentID, "rd.kind": f.Kind} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if f.Campaign != "" {
		q = q.Where("(rd.campaign_id = ? OR rd.campaign_id IN (SELECT c.id FROM campaigns AS c WHERE c.tenant_id = ? AND c.name = ?))",
			f.Campaign, tenantID, f.Campaign)
	}
	if f.Customer != "" {
		q = q.Where("(rd.customer_id = ? OR rd.customer_id IN (SELECT cu.id FROM customers AS cu WHERE cu.tenant_id = ? AND cu.source_id = ?))",
			f.Customer, tenantID, f.Customer)
	}
	switch {
	case f.StartingAfter == "":
	case f.Order == "-created_at":
		// After the record in the page's order: older, or as old with a lower
		// id (List refuses a cursor that names no record).
		q = q.Where("(rd.created_at, rd.id) < (SELECT sa.created_at, sa.id FROM redemptions AS sa WHERE sa.tenant_id = ? AND sa.id = ?)",
			tenantID, f.StartingAfter)
	default:
		q = q.Where("rd.id < ?", f.StartingAfter)
	}
	for _, c := range f.Conditions {
		col := FilterFields[c.Field]
		if c.Not {
			q = q.Where("("+col+" IS NULL OR "+col+" NOT IN (?))", bun.List(c.Values))
		} else {
			q = q.Where(col+" IN (?)", bun.List(c.Values))
		}
	}
	if !f.CreatedAfter.IsZero() {
		q = q.Where("rd.created_at > ?", f.CreatedAfter.UTC())
	}
	if !f.CreatedBefore.IsZero() {
		q = q.Where("rd.created_at < ?", f.CreatedBefore.UTC())
	}
	return q
}

// Listing is one page of records, how many records the filter matches in all
// (Voucherify's total) and whether more follow the page.
type Listing struct {
	Records []Record
	Total   int
	More    bool
}

// List returns one page of the tenant's redemption and rollback records.
func (e *Engine) List(ctx context.Context, tenantID string, f Filter) (Listing, error) {
	if err := f.check(); err != nil {
		return Listing{}, err
	}
	if f.Result == "FAILURE" {
		// Refused redemptions write nothing but their audit record.
		return Listing{Records: []Record{}}, nil
	}
	var out Listing
	err := e.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		if f.StartingAfter != "" && f.Order == "-created_at" {
			// A cursor that names no record of the tenant would page to an
			// empty list that reads as the end.
			n, err := tx.NewSelect().Model((*Record)(nil)).Where("rd.tenant_id = ? AND rd.id = ?", tenantID, f.StartingAfter).Count(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				return problem.Invalid("starting_after", "starting_after: no redemption or rollback has this id")
			}
		}
		q := f.where(tx.NewSelect().Model(&out.Records), tenantID).OrderExpr(listOrders[f.Order]).Limit(int64(f.Limit) + 1)
		if f.Page > 1 {
			q = q.Offset(int64((f.Page - 1) * f.Limit))
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		n, err := f.where(tx.NewSelect().Model((*Record)(nil)), tenantID).Count(ctx)
		out.Total = int(n)
		return err
	})
	if err != nil {
		return Listing{}, fmt.Errorf("list redemptions: %w", err)
	}
	out.More = len(out.Records) > f.Limit
	out.Records = out.Records[:min(len(out.Records), f.Limit)]
	return out, nil
}

// Get returns one redemption or rollback record.
func (e *Engine) Get(ctx context.Context, tenantID, id string) (Record, error) {
	var r Record
	err := e.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model(&r).Where("rd.tenant_id = ? AND rd.id = ?", tenantID, id).Scan(ctx)
	})
	if db.IsNotFound(err) {
		return Record{}, problem.NotFound("redemption", id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("load redemption: %w", err)
	}
	return r, nil
}
