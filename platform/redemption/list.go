package redemption

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// MaxPage is the largest page of GET /v1/redemptions.
const MaxPage = 100

// Filter selects redemptions and rollbacks, newest first.
type Filter struct {
	Limit         int
	StartingAfter string // the id of the last record of the previous page
	Result        string // SUCCESS or FAILURE (every stored record succeeded)
	Status        string // SUCCEEDED or ROLLED_BACK
	CampaignID    string
	CustomerID    string
	OrderID       string
	ParentID      string
	Kind          string // redemption or rollback
	CreatedAfter  time.Time
	CreatedBefore time.Time
}

// List returns one page of the tenant's redemption and rollback records and
// whether more follow.
func (e *Engine) List(ctx context.Context, tenantID string, f Filter) ([]Record, bool, error) {
	if f.Limit <= 0 {
		f.Limit = 10
	}
	f.Limit = min(f.Limit, MaxPage)
	if f.Result == "FAILURE" {
		// Refused redemptions write nothing but their audit record.
		return []Record{}, false, nil
	}
	var out []Record
	err := e.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().Model(&out).Where("rd.tenant_id = ?", tenantID).OrderExpr("rd.id DESC").Limit(int64(f.Limit) + 1)
		for col, v := range map[string]string{"rd.status": f.Status, "rd.campaign_id": f.CampaignID, "rd.customer_id": f.CustomerID,
			"rd.order_id": f.OrderID, "rd.parent_id": f.ParentID, "rd.kind": f.Kind} {
			if v != "" {
				q = q.Where(col+" = ?", v)
			}
		}
		if f.StartingAfter != "" {
			q = q.Where("rd.id < ?", f.StartingAfter)
		}
		if !f.CreatedAfter.IsZero() {
			q = q.Where("rd.created_at > ?", f.CreatedAfter.UTC())
		}
		if !f.CreatedBefore.IsZero() {
			q = q.Where("rd.created_at < ?", f.CreatedBefore.UTC())
		}
		return q.Scan(ctx)
	})
	if err != nil {
		return nil, false, fmt.Errorf("list redemptions: %w", err)
	}
	more := len(out) > f.Limit
	return out[:min(len(out), f.Limit)], more, nil
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
