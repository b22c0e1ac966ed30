package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
)

// sealBatch bounds the events chained in one transaction.
const sealBatch = 500

// sealRaces bounds how many collisions in a row one Seal starts over after: a
// lost race clears on the next try, an event queued again after it was sealed
// never does.
const sealRaces = 100

// Seal chains tenantID's pending events in id order and reports how many it sealed.
// Two sealers racing on one tenant (two nodes, or a verification and the
// background sealer) collide on the chain's next sequence number; the loser rolls
// back and starts over from the winner's head, since the winner may have sealed
// only the events pending when it began. A lost race follows the other sealer's
// commit, so starting over follows progress. When Seal returns without error,
// every event committed before it was called is sealed.
func (l *Log) Seal(ctx context.Context, tenantID string) (int, error) {
	total, races := 0, 0
	for {
		n, err := l.sealOnce(ctx, tenantID)
		total += n
		switch {
		case err != nil && lostRace(err) && races < sealRaces && ctx.Err() == nil:
			races++
		case err != nil:
			return total, err
		case n < sealBatch:
			return total, nil
		default:
			races = 0
		}
	}
}

// lostRace reports whether err is a seal's collision with another sealer's: on
// the chain's sequence number or on the event, whichever PostgreSQL checks first.
func lostRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" &&
		(pgErr.ConstraintName == "audit_seals_pkey" || pgErr.ConstraintName == "audit_seals_event")
}

func (l *Log) sealOnce(ctx context.Context, tenantID string) (int, error) {
	var n int
	err := l.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var evs []Event
		err := tx.NewSelect().Model(&evs).
			Join("JOIN audit_pending AS p ON p.tenant_id = e.tenant_id AND p.event_id = e.id").
			Where("e.tenant_id = ?", tenantID).
			OrderExpr("e.id ASC").Limit(sealBatch).Scan(ctx)
		if err != nil {
			return fmt.Errorf("load pending audit events: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		var head seal
		err = tx.NewSelect().Model(&head).Where("tenant_id = ?", tenantID).
			OrderExpr("seq DESC").Limit(1).Scan(ctx)
		if err != nil && !db.IsNotFound(err) {
			return fmt.Errorf("load audit chain head: %w", err)
		}
		now := l.now().UTC().Truncate(time.Microsecond)
		seals := make([]seal, 0, len(evs))
		done := make([]string, 0, len(evs))
		prev, seq := head.Hash, head.Seq
		for i := range evs {
			h, err := chainHash(prev, &evs[i])
			if err != nil {
				return err
			}
			seq++
			seals = append(seals, seal{TenantID: tenantID, Seq: seq, EventID: evs[i].ID, PrevHash: prev, Hash: h, SealedAt: now})
			done = append(done, evs[i].ID)
			prev = h
		}
		if _, err := tx.NewInsert().Model(&seals).Exec(ctx); err != nil {
			return fmt.Errorf("insert audit seals: %w", err)
		}
		if _, err := tx.NewDelete().Model((*pending)(nil)).
			Where("tenant_id = ?", tenantID).Where("event_id IN (?)", bun.List(done)).
			Exec(ctx); err != nil {
			return fmt.Errorf("dequeue sealed events: %w", err)
		}
		n = len(evs)
		return nil
	})
	return n, err
}

// SealAll seals the pending events of every tenant that has some, and returns
// the failures of those that would not seal (the others are sealed anyway).
func (l *Log) SealAll(ctx context.Context) error {
	var tenants []string
	err := l.db.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model((*pending)(nil)).Distinct().Column("tenant_id").
			Limit(1000).Scan(ctx, &tenants)
	})
	if err != nil {
		return fmt.Errorf("find tenants with pending audit events: %w", err)
	}
	// A tenant whose events will not seal does not hold up the others'.
	var errs []error
	for _, t := range tenants {
		if _, err := l.Seal(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("seal audit events of %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}
