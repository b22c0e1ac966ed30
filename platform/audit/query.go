package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Filter selects audit events. Zero fields match everything.
type Filter struct {
	ActorID      string
	Action       string
	ResourceType string
	ResourceID   string
	From, To     time.Time // occurred_at within [From, To)
	Cursor       string    // the id of the last event of the previous page
	Limit        int
}

// MaxPage is the largest page List returns.
const MaxPage = 100

func (f Filter) apply(q *bun.SelectQuery, tenantID string, desc bool) *bun.SelectQuery {
	q = q.Where("e.tenant_id = ?", tenantID)
	if f.ActorID != "" {
		q = q.Where("e.actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		q = q.Where("e.action = ?", f.Action)
	}
	if f.ResourceType != "" {
		q = q.Where("e.resource_type = ?", f.ResourceType)
	}
	if f.ResourceID != "" {
		q = q.Where("e.resource_id = ?", f.ResourceID)
	}
	if !f.From.IsZero() {
		q = q.Where("e.occurred_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("e.occurred_at < ?", f.To.UTC())
	}
	if f.Cursor != "" {
		if desc {
			q = q.Where("e.id < ?", f.Cursor)
		} else {
			q = q.Where("e.id > ?", f.Cursor)
		}
	}
	q = q.ColumnExpr("e.*").ColumnExpr("coalesce(s.seq, 0) AS seq").ColumnExpr("coalesce(s.hash, '') AS hash").
		Join("LEFT JOIN audit_seals AS s ON s.tenant_id = e.tenant_id AND s.event_id = e.id")
	if desc {
		return q.OrderExpr("e.id DESC")
	}
	return q.OrderExpr("e.id ASC")
}

// List returns one page of tenantID's events, newest first, and the cursor of the
// next page ("" on the last).
func (l *Log) List(ctx context.Context, tenantID string, f Filter) ([]Event, string, error) {
	if f.Limit <= 0 || f.Limit > MaxPage {
		f.Limit = MaxPage
	}
	var evs []Event
	err := l.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		return f.apply(tx.NewSelect().Model(&evs), tenantID, true).Limit(int64(f.Limit + 1)).Scan(ctx)
	})
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	next := ""
	if len(evs) > f.Limit {
		evs = evs[:f.Limit]
		next = evs[len(evs)-1].ID
	}
	return evs, next, nil
}

// Export calls fn for every event of tenantID matching f, oldest first, reading in
// pages so that an export of any size holds no long transaction.
func (l *Log) Export(ctx context.Context, tenantID string, f Filter, fn func(*Event) error) error {
	const page = 500
	for {
		var evs []Event
		err := l.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
			return f.apply(tx.NewSelect().Model(&evs), tenantID, false).Limit(page).Scan(ctx)
		})
		if err != nil {
			return fmt.Errorf("export audit events: %w", err)
		}
		for i := range evs {
			if err := fn(&evs[i]); err != nil {
				return err
			}
		}
		if len(evs) < page {
			return nil
		}
		f.Cursor = evs[len(evs)-1].ID
	}
}
