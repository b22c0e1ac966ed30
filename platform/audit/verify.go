package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// Verification is the result of recomputing a tenant's chain.
type Verification struct {
	Valid             bool   `json:"valid"`
	Events            int64  `json:"events"`
	HeadHash          string `json:"head_hash,omitempty"`
	FirstInvalidEvent string `json:"first_invalid_event,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

const verifyPage = 1000

// Verify seals what is pending, then walks tenantID's chain from the first seal and
// recomputes every hash. It names the first event that was edited, deleted, moved or
// slipped in outside the chain.
func (l *Log) Verify(ctx context.Context, tenantID string) (Verification, error) {
	if _, err := l.Seal(ctx, tenantID); err != nil {
		return Verification{}, err
	}
	var res Verification
	err := l.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		prev, seq := "", int64(0)
		for {
			var seals []seal
			if err := tx.NewSelect().Model(&seals).Where("tenant_id = ?", tenantID).
				Where("seq > ?", seq).OrderExpr("seq ASC").Limit(verifyPage).Scan(ctx); err != nil {
				return fmt.Errorf("load audit seals: %w", err)
			}
			if len(seals) == 0 {
				break
			}
			idsOf := make([]string, len(seals))
			for i, s := range seals {
				idsOf[i] = s.EventID
			}
			var evs []Event
			if err := tx.NewSelect().Model(&evs).Where("e.tenant_id = ?", tenantID).
				Where("e.id IN (?)", bun.List(idsOf)).Scan(ctx); err != nil {
				return fmt.Errorf("load audit events: %w", err)
			}
			byID := make(map[string]*Event, len(evs))
			for i := range evs {
				byID[evs[i].ID] = &evs[i]
			}
			for _, s := range seals {
				bad := func(reason string) error {
					res = Verification{Valid: false, Events: res.Events, FirstInvalidEvent: s.EventID, Reason: reason}
					return errBroken
				}
				if s.Seq != seq+1 {
					return bad(fmt.Sprintf("chain position %d is missing: an event was removed before this one", seq+1))
				}
				if s.PrevHash != prev {
					return bad("the chain link before this event does not match: events were reordered or removed")
				}
				ev, ok := byID[s.EventID]
				if !ok {
					return bad("this event was deleted")
				}
				h, err := chainHash(prev, ev)
				if err != nil {
					return err
				}
				if h != s.Hash {
					return bad("this event was altered after it was sealed")
				}
				prev, seq = s.Hash, s.Seq
				res.Events++
			}
		}
		res.Valid, res.HeadHash = true, prev

		// An event outside the chain and not waiting for it was inserted behind the
		// sealer's back (or its queue entry was removed).
		var stray []string
		if err := tx.NewSelect().TableExpr("audit_events AS e").Column("e.id").
			Join("LEFT JOIN audit_seals AS s ON s.tenant_id = e.tenant_id AND s.event_id = e.id").
			Join("LEFT JOIN audit_pending AS p ON p.tenant_id = e.tenant_id AND p.event_id = e.id").
			Where("e.tenant_id = ?", tenantID).Where("s.event_id IS NULL").Where("p.event_id IS NULL").
			OrderExpr("e.id ASC").Limit(1).Scan(ctx, &stray); err != nil {
			return fmt.Errorf("find unsealed audit events: %w", err)
		}
		if len(stray) > 0 {
			res = Verification{Valid: false, Events: res.Events, FirstInvalidEvent: stray[0], Reason: "this event is not in the chain"}
		}
		return nil
	})
	if errors.Is(err, errBroken) {
		return res, nil
	}
	if err != nil {
		return Verification{}, err
	}
	return res, nil
}

type brokenError struct{}

func (brokenError) Error() string { return "audit chain broken" }

var errBroken error = brokenError{}
