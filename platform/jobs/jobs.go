// Package jobs runs asynchronous actions (Voucherify's async_action): work too long
// for a request, such as generating 100,000 codes. A request enqueues an action in
// its own transaction; a worker on any node claims it with a lease, runs its
// handler in steps that each commit their progress, and records the result. A node
// that dies mid-action loses its lease and another node resumes from the last
// committed step.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Statuses of an action.
const (
	Enqueued   = "ENQUEUED"
	InProgress = "IN_PROGRESS"
	Done       = "DONE"
	Failed     = "FAILED"
)

// Lease is how long a worker owns an action between two steps.
const Lease = 2 * time.Minute

// ErrLeaseLost is a step's error when the action is no longer the worker's: its
// lease lapsed and another worker claimed it (or it ended). The step's work is
// rolled back, and the worker leaves the action to its new owner.
var ErrLeaseLost = errors.New("jobs: the action's lease was lost to another worker")

// Action is one asynchronous action.
type Action struct {
	bun.BaseModel `bun:"table:async_actions,alias:aa"`

	TenantID    string          `bun:"tenant_id,pk"`
	ID          string          `bun:"id,pk"`
	Type        string          `bun:"type"`
	Status      string          `bun:"status"`
	Payload     json.RawMessage `bun:"payload,type:jsonb"`
	Progress    int64           `bun:"progress"`
	Result      json.RawMessage `bun:"result,type:jsonb,nullzero"`
	LockedUntil *time.Time      `bun:"locked_until"`
	CreatedAt   time.Time       `bun:"created_at"`
	UpdatedAt   time.Time       `bun:"updated_at"`
}

// Step is one committed unit of an action's work. Handlers call it with a function
// that does the next piece inside tx; Step records the new progress in the same
// transaction and renews the lease.
type Step func(ctx context.Context, work func(ctx context.Context, tx bun.Tx) (progress int64, err error)) error

// Handler runs an action of one type: it reads its payload and progress (to resume
// after a crash), does its work in steps and returns the result to record.
type Handler func(ctx context.Context, a Action, step Step) (result any, err error)

// Queue stores actions and runs them.
type Queue struct {
	db       *db.DB
	now      func() time.Time
	logger   *slog.Logger
	mu       sync.RWMutex
	handlers map[string]Handler
	wake     chan struct{}
}

// New returns a queue.
func New(d *db.DB, now func() time.Time, logger *slog.Logger) *Queue {
	return &Queue{db: d, now: now, logger: logger, handlers: map[string]Handler{}, wake: make(chan struct{}, 1)}
}

// Handle registers the handler of an action type.
func (q *Queue) Handle(typ string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[typ] = h
}

// Enqueue adds an action in tx, the transaction of the request that asks for it,
// and returns its id.
func (q *Queue) Enqueue(ctx context.Context, tx bun.IDB, tenantID, typ string, payload any) (string, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	now := q.now().UTC().Truncate(time.Microsecond)
	a := Action{TenantID: tenantID, ID: ids.New("aa"), Type: typ, Status: Enqueued, Payload: b, CreatedAt: now, UpdatedAt: now}
	if _, err := tx.NewInsert().Model(&a).Exec(ctx); err != nil {
		return "", fmt.Errorf("enqueue %s: %w", typ, err)
	}
	// Wake this node's worker; should the enqueuing transaction not have committed
	// yet, the worker (and every other node) finds the action on a later poll.
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return a.ID, nil
}

// Get returns one of the tenant's actions.
func (q *Queue) Get(ctx context.Context, tenantID, id string) (Action, error) {
	var a Action
	err := q.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model(&a).Where("aa.tenant_id = ? AND aa.id = ?", tenantID, id).Scan(ctx)
	})
	if db.IsNotFound(err) {
		return Action{}, problem.NotFound("async_action", id)
	}
	if err != nil {
		return Action{}, fmt.Errorf("load async action: %w", err)
	}
	return a, nil
}

// Run works through actions until ctx ends, polling every interval.
func (q *Queue) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			worked, err := q.RunOne(ctx)
			if err != nil && ctx.Err() == nil {
				q.logger.ErrorContext(ctx, "async action", "error", err)
			}
			if !worked || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.wake:
		}
	}
}

// RunOne claims the oldest runnable action of any tenant, of a type this queue has
// a handler for, and runs it to the end. It reports whether there was one. (A node
// that lacks a handler, say during a rolling upgrade, leaves such actions to nodes
// that have it.)
func (q *Queue) RunOne(ctx context.Context) (bool, error) {
	q.mu.RLock()
	types := make([]string, 0, len(q.handlers))
	for t := range q.handlers {
		types = append(types, t)
	}
	q.mu.RUnlock()
	if len(types) == 0 {
		return false, nil
	}
	a, ok, err := q.claim(ctx, types)
	if err != nil || !ok {
		return false, err
	}
	q.mu.RLock()
	h := q.handlers[a.Type]
	q.mu.RUnlock()
	step := func(ctx context.Context, work func(ctx context.Context, tx bun.Tx) (int64, error)) error {
		return q.db.InTx(ctx, a.TenantID, func(ctx context.Context, tx bun.Tx) error {
			progress, err := work(ctx, tx)
			if err != nil {
				return err
			}
			now := q.now().UTC().Truncate(time.Microsecond)
			lease := now.Add(Lease)
			// The lease this worker holds is its token: a worker whose lease
			// lapsed and was claimed by another changes nothing.
			res, err := tx.NewUpdate().Model((*Action)(nil)).Set("progress = ?", progress).Set("locked_until = ?", lease).Set("updated_at = ?", now).
				Where("tenant_id = ? AND id = ? AND status = ? AND locked_until = ?", a.TenantID, a.ID, InProgress, *a.LockedUntil).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrLeaseLost
			}
			a.Progress, a.LockedUntil = progress, &lease
			return nil
		})
	}
	result, err := h(ctx, a, step)
	if err != nil {
		if ctx.Err() != nil {
			return true, err // shutting down: another run resumes it after the lease
		}
		if errors.Is(err, ErrLeaseLost) {
			q.logger.WarnContext(ctx, "async action taken over by another worker", "tenant_id", a.TenantID, "action", a.ID, "type", a.Type)
			return true, nil
		}
		q.logger.ErrorContext(ctx, "async action failed", "tenant_id", a.TenantID, "action", a.ID, "type", a.Type, "error", err)
		return true, q.finish(ctx, a, Failed, map[string]any{"error": "the action failed; see the logs of request " + a.ID})
	}
	return true, q.finish(ctx, a, Done, result)
}

func (q *Queue) claim(ctx context.Context, types []string) (Action, bool, error) {
	var a Action
	found := false
	now := q.now().UTC().Truncate(time.Microsecond)
	err := q.db.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
		sel := tx.NewSelect().Model(&a).
			Where("aa.status = ? OR (aa.status = ? AND aa.locked_until < ?)", Enqueued, InProgress, now).
			Where("aa.type IN (?)", bun.List(types)).
			OrderExpr("aa.created_at").Limit(1)
		if q.db.Dialect() == db.Postgres {
			sel = sel.For("UPDATE SKIP LOCKED")
		}
		if err := sel.Scan(ctx); err != nil {
			if db.IsNotFound(err) {
				return nil
			}
			return err
		}
		lease := now.Add(Lease)
		if _, err := tx.NewUpdate().Model((*Action)(nil)).Set("status = ?", InProgress).Set("locked_until = ?", lease).Set("updated_at = ?", now).
			Where("tenant_id = ? AND id = ?", a.TenantID, a.ID).Exec(ctx); err != nil {
			return err
		}
		a.Status, a.LockedUntil, found = InProgress, &lease, true
		return nil
	})
	if err != nil {
		return Action{}, false, fmt.Errorf("claim async action: %w", err)
	}
	return a, found, nil
}

// finish records the action's end, if it is still the worker's (see step).
func (q *Queue) finish(ctx context.Context, a Action, status string, result any) error {
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return q.db.InTx(context.WithoutCancel(ctx), a.TenantID, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*Action)(nil)).Set("status = ?", status).Set("result = ?", json.RawMessage(b)).
			Set("locked_until = NULL").Set("updated_at = ?", q.now().UTC().Truncate(time.Microsecond)).
			Where("tenant_id = ? AND id = ? AND status = ? AND locked_until = ?", a.TenantID, a.ID, InProgress, *a.LockedUntil).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			q.logger.WarnContext(ctx, "async action taken over by another worker before it ended", "tenant_id", a.TenantID, "action", a.ID, "status", status)
		}
		return nil
	})
}
