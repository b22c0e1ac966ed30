package customers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
)

// errSourceIDTaken reports that another customer of the tenant has the source_id.
var errSourceIDTaken = errors.New("source_id belongs to another customer")

func insertCustomer(ctx context.Context, tx bun.IDB, tenantID string, c *Customer) error {
	c.TenantID = tenantID
	if _, err := tx.NewInsert().Model(c).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return errSourceIDTaken
		}
		return fmt.Errorf("insert customer: %w", err)
	}
	return nil
}

// updateCustomer writes c's columns named by changed (see Input.ApplyTo), and
// updated_at: only those, so that a concurrent update of others is not undone.
func updateCustomer(ctx context.Context, tx bun.IDB, tenantID string, c *Customer, changed []string) error {
	_, err := tx.NewUpdate().Model(c).Column(append(changed, "updated_at")...).
		Where("tenant_id = ?", tenantID).Where("id = ?", c.ID).Exec(ctx)
	if err != nil {
		if db.IsUniqueViolation(err) {
			return errSourceIDTaken
		}
		return fmt.Errorf("update customer %s: %w", c.ID, err)
	}
	return nil
}

// customerBy are the prepared lookups of one customer by id and by source_id:
// every validation and redemption of a known customer runs one.
var customerBy = map[string]*db.Statement{"id": customerStatement("id"), "source_id": customerStatement("source_id")}

func customerStatement(column string) *db.Statement {
	return db.NewStatement("SELECT", "customers", func(q bun.IDB, _ int) string {
		return q.NewSelect().Model((*Customer)(nil)).
			Where("c.tenant_id = ?", db.Placeholder).Where("c."+column+" = ?", db.Placeholder).String()
	})
}

// selectCustomer loads the customer whose column (id or source_id) equals value.
// A missing customer is sql.ErrNoRows (db.IsNotFound).
func selectCustomer(ctx context.Context, tx bun.IDB, tenantID, column, value string) (Customer, error) {
	var c Customer
	err := customerBy[column].Scan(ctx, tx, &c, 0, tenantID, value)
	if err != nil {
		return Customer{}, fmt.Errorf("load customer by %s: %w", column, err)
	}
	return c, nil
}

func deleteCustomer(ctx context.Context, tx bun.IDB, tenantID, id string) (int64, error) {
	res, err := tx.NewDelete().Model((*Customer)(nil)).
		Where("tenant_id = ?", tenantID).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete customer %s: %w", id, err)
	}
	return res.RowsAffected()
}

// consent is one stored consent of a customer.
type consent struct {
	bun.BaseModel `bun:"table:customer_consents,alias:cc"`

	TenantID   string    `bun:"tenant_id,pk"`
	CustomerID string    `bun:"customer_id,pk"`
	ConsentID  string    `bun:"consent_id,pk"`
	Granted    bool      `bun:"granted"`
	UpdatedAt  time.Time `bun:"updated_at"`
}

func deleteConsents(ctx context.Context, tx bun.IDB, tenantID, customerID string) (int64, error) {
	res, err := tx.NewDelete().Model((*consent)(nil)).
		Where("tenant_id = ?", tenantID).Where("customer_id = ?", customerID).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete consents of %s: %w", customerID, err)
	}
	return res.RowsAffected()
}

func upsertConsents(ctx context.Context, tx bun.IDB, tenantID string, rows []consent) error {
	if len(rows) == 0 {
		return nil
	}
	for i := range rows {
		rows[i].TenantID = tenantID
	}
	_, err := tx.NewInsert().Model(&rows).
		On("CONFLICT (tenant_id, customer_id, consent_id) DO UPDATE").
		Set("granted = EXCLUDED.granted").Set("updated_at = EXCLUDED.updated_at").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("save consents: %w", err)
	}
	return nil
}

// withdrawConsents sets every granted consent of the customer to not granted.
func withdrawConsents(ctx context.Context, tx bun.IDB, tenantID, customerID string, now time.Time) error {
	_, err := tx.NewUpdate().Model((*consent)(nil)).
		Set("granted = ?", false).Set("updated_at = ?", now).
		Where("tenant_id = ?", tenantID).Where("customer_id = ?", customerID).Where("granted = ?", true).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("withdraw consents of %s: %w", customerID, err)
	}
	return nil
}

func selectConsents(ctx context.Context, tx bun.IDB, tenantID, customerID string) (map[string]bool, error) {
	var rows []consent
	err := tx.NewSelect().Model(&rows).
		Where("cc.tenant_id = ?", tenantID).Where("cc.customer_id = ?", customerID).
		OrderExpr("cc.consent_id ASC").Limit(maxConsentsPerCustomer).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("load consents of %s: %w", customerID, err)
	}
	out := make(map[string]bool, len(rows))
	for _, r := range rows {
		out[r.ConsentID] = r.Granted
	}
	return out, nil
}

func countConsents(ctx context.Context, tx bun.IDB, tenantID, customerID string) (int64, error) {
	n, err := tx.NewSelect().Model((*consent)(nil)).
		Where("cc.tenant_id = ?", tenantID).Where("cc.customer_id = ?", customerID).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count consents of %s: %w", customerID, err)
	}
	return n, nil
}

// listQuery is a validated ListFilter in the terms of SQL.
type listQuery struct {
	email, city, name string
	createdAfter      time.Time
	createdBefore     time.Time
	updatedAfter      time.Time
	updatedBefore     time.Time

	order orderKey
	desc  bool

	// The rows start after a cursor: after a customer (afterSet with the order
	// column's value afterValue and its id afterID), or after a point in time on
	// the order column (afterTime).
	afterSet   bool
	afterValue any
	afterID    string
	afterTime  time.Time

	offset, limit int
}

// orderKey is a column customers can be sorted by.
type orderKey int

const (
	orderCreatedAt orderKey = iota
	orderUpdatedAt
	orderSourceID
)

// expr is the SQL expression of the order column. source_id sorts NULL as ”, so
// that SQLite and PostgreSQL agree on where customers without one go.
func (k orderKey) expr() string {
	switch k {
	case orderUpdatedAt:
		return "c.updated_at"
	case orderSourceID:
		return "COALESCE(c.source_id, '')"
	default:
		return "c.created_at"
	}
}

// value is c's value of the order column, as expr compares it.
func (k orderKey) value(c Customer) any {
	switch k {
	case orderUpdatedAt:
		return c.UpdatedAt
	case orderSourceID:
		return c.SourceID
	default:
		return c.CreatedAt
	}
}

// filter adds the tenant and the filters, but not the cursor, to q.
func (lq listQuery) filter(q *bun.SelectQuery, dialect db.Dialect, tenantID string) *bun.SelectQuery {
	q = q.Where("c.tenant_id = ?", tenantID)
	if lq.email != "" {
		q = q.Where("c.email = ?", lq.email)
	}
	if lq.name != "" {
		q = q.Where("c.name = ?", lq.name)
	}
	if lq.city != "" {
		if dialect == db.Postgres {
			q = q.Where("c.address->>'city' = ?", lq.city)
		} else {
			q = q.Where("json_extract(c.address, '$.city') = ?", lq.city)
		}
	}
	for _, t := range []struct {
		expr string
		at   time.Time
	}{
		{"c.created_at > ?", lq.createdAfter},
		{"c.created_at < ?", lq.createdBefore},
		{"c.updated_at > ?", lq.updatedAfter},
		{"c.updated_at < ?", lq.updatedBefore},
	} {
		if !t.at.IsZero() {
			q = q.Where(t.expr, t.at.UTC())
		}
	}
	return q
}

func selectCustomers(ctx context.Context, tx bun.IDB, dialect db.Dialect, tenantID string, lq listQuery) ([]Customer, error) {
	var cs []Customer
	q := lq.filter(tx.NewSelect().Model(&cs), dialect, tenantID)
	col := bun.Safe(lq.order.expr())
	cmp, dir := bun.Safe(">"), "ASC"
	if lq.desc {
		cmp, dir = bun.Safe("<"), "DESC"
	}
	switch {
	case lq.afterSet:
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("? ? ?", col, cmp, lq.afterValue).
				WhereOr("? = ? AND c.id ? ?", col, lq.afterValue, cmp, lq.afterID)
		})
	case !lq.afterTime.IsZero():
		q = q.Where("? ? ?", col, cmp, lq.afterTime.UTC())
	}
	err := q.OrderExpr("? "+dir, col).OrderExpr("c.id " + dir).
		Offset(int64(lq.offset)).Limit(int64(lq.limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return cs, nil
}

func countCustomers(ctx context.Context, tx bun.IDB, dialect db.Dialect, tenantID string, lq listQuery) (int64, error) {
	n, err := lq.filter(tx.NewSelect().Model((*Customer)(nil)), dialect, tenantID).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count customers: %w", err)
	}
	return n, nil
}
