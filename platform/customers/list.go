package customers

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Bounds of a list page, Voucherify's.
const (
	DefaultListLimit = 10
	MaxListLimit     = 100
	MaxListPage      = 99
)

// The orders List accepts, Voucherify's; a leading '-' sorts descending.
var listOrders = map[string]struct {
	key  orderKey
	desc bool
}{
	"created_at":  {orderCreatedAt, false},
	"-created_at": {orderCreatedAt, true},
	"updated_at":  {orderUpdatedAt, false},
	"-updated_at": {orderUpdatedAt, true},
	"source_id":   {orderSourceID, false},
	"-source_id":  {orderSourceID, true},
}

// DefaultListOrder is the order of a list that names none: newest first.
const DefaultListOrder = "-created_at"

// ListFilter selects and pages customers. Zero fields match everything.
type ListFilter struct {
	Limit int // 1 to MaxListLimit; 0 means DefaultListLimit
	Page  int // 1 to MaxListPage; 0 means 1

	// StartingAfter continues a list after a point. It is either a customer id
	// (the page starts after that customer, in the list's order) or, as in
	// Voucherify, an RFC 3339 time compared with the order column: before it when
	// the order is descending, after it when ascending.
	StartingAfter string

	Email string // exact
	City  string // exact, address.city
	Name  string // exact

	CreatedAfter, CreatedBefore time.Time // exclusive bounds
	UpdatedAfter, UpdatedBefore time.Time // exclusive bounds

	// Order is created_at, updated_at or source_id, with '-' for descending;
	// "" means DefaultListOrder. Ties are broken by id.
	Order string
}

// query checks f and turns it into a listQuery, without the cursor customer.
func (f ListFilter) query() (listQuery, error) {
	lq := listQuery{email: f.Email, city: f.City, name: f.Name,
		createdAfter: f.CreatedAfter, createdBefore: f.CreatedBefore,
		updatedAfter: f.UpdatedAfter, updatedBefore: f.UpdatedBefore}
	switch {
	case f.Limit == 0:
		lq.limit = DefaultListLimit
	case f.Limit < 1 || f.Limit > MaxListLimit:
		return lq, problem.Invalidf("limit", "limit must be between 1 and %d", MaxListLimit)
	default:
		lq.limit = f.Limit
	}
	switch {
	case f.Page == 0:
	case f.Page < 1 || f.Page > MaxListPage:
		return lq, problem.Invalidf("page", "page must be between 1 and %d", MaxListPage)
	default:
		lq.offset = (f.Page - 1) * lq.limit
	}
	order := f.Order
	if order == "" {
		order = DefaultListOrder
	}
	o, ok := listOrders[order]
	if !ok {
		return lq, problem.Invalidf("order", "order must be one of created_at, -created_at, updated_at, -updated_at, source_id, -source_id")
	}
	lq.order, lq.desc = o.key, o.desc
	if f.StartingAfter != "" && !ids.HasPrefix(f.StartingAfter, ids.Customer) {
		t, err := time.Parse(time.RFC3339Nano, f.StartingAfter)
		if err != nil {
			return lq, problem.Invalid("starting_after", "starting_after must be a customer id or an RFC 3339 time such as 2026-01-31T23:00:00Z")
		}
		if o.key == orderSourceID {
			return lq, problem.Invalid("starting_after", "starting_after as a time needs order created_at, -created_at, updated_at or -updated_at")
		}
		lq.afterTime = t
	}
	return lq, nil
}

// List returns one page of the tenant's customers, the number of customers that
// match the filters (paging aside), and whether more follow the page.
func (s *Service) List(ctx context.Context, tenantID string, f ListFilter) (page []Customer, total int64, hasMore bool, err error) {
	lq, err := f.query()
	if err != nil {
		return nil, 0, false, err
	}
	limit := lq.limit
	lq.limit++
	dialect := s.db.Dialect()
	err = s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		if ids.HasPrefix(f.StartingAfter, ids.Customer) {
			after, err := selectCustomer(ctx, tx, tenantID, "id", f.StartingAfter)
			if err != nil {
				if db.IsNotFound(err) {
					return problem.Invalid("starting_after", "starting_after names no customer of this tenant")
				}
				return err
			}
			lq.afterSet, lq.afterValue, lq.afterID = true, lq.order.value(after), after.ID
		}
		var err error
		if page, err = selectCustomers(ctx, tx, dialect, tenantID, lq); err != nil {
			return err
		}
		total, err = countCustomers(ctx, tx, dialect, tenantID, lq)
		return err
	})
	if err != nil {
		return nil, 0, false, err
	}
	if len(page) > limit {
		page, hasMore = page[:limit], true
	}
	return page, total, hasMore, nil
}
