package campaigns

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/jobs"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// ActionImport is the asynchronous action that imports standalone vouchers.
const ActionImport = "VOUCHERS.IMPORT"

// Import limits.
const (
	MaxImport       = 10_000 // vouchers in one import
	importBatch     = 500
	maxListedErrors = 100
)

type importPayload struct {
	Vouchers []VoucherInput `json:"vouchers"`
}

// importFailure is a voucher an import could not store.
type importFailure struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// importResult is what an import did; it is kept on the action as it goes, so a
// resumed import continues its tally.
type importResult struct {
	DoneCount   int64           `json:"done_count"`
	FailedCount int64           `json:"failed_count"`
	Failed      []importFailure `json:"failed"`
}

// ImportVouchers checks every voucher (each must have its code) and enqueues their
// import, returning the asynchronous action's id. A code that already exists when
// the import runs is reported in the action's result, not imported.
func (s *Service) ImportVouchers(ctx context.Context, tenantID string, in []VoucherInput) (string, error) {
	if s.jobs == nil {
		return "", problem.Invalid("body", "imports are not available on this server")
	}
	switch {
	case len(in) == 0:
		return "", problem.Invalid("body", "the import holds no vouchers")
	case len(in) > MaxImport:
		return "", problem.Invalidf("body", "an import holds at most %d vouchers", MaxImport)
	}
	seen := make(map[string]bool, len(in))
	now := s.clock()
	for i, v := range in {
		f := fmt.Sprintf("[%d].", i)
		if v.Code == "" {
			return "", problem.Invalidf(f+"code", "%scode is required in an import", f)
		}
		if seen[v.Code] {
			return "", problem.Invalidf(f+"code", "%scode %q appears twice in the import", f, v.Code)
		}
		seen[v.Code] = true
		if _, err := v.voucher(tenantID, now, f); err != nil {
			return "", err
		}
	}
	var id string
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if id, err = s.jobs.Enqueue(ctx, tx, tenantID, ActionImport, importPayload{Vouchers: in}); err != nil {
			return err
		}
		return s.record(ctx, tx, tenantID, "vouchers.import_requested", ResourceVoucher, id, map[string]any{"count": len(in)})
	})
	return id, err
}

// runImport stores an import's vouchers in committed batches.
func (s *Service) runImport(ctx context.Context, a jobs.Action, step jobs.Step) (any, error) {
	var p importPayload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return nil, err
	}
	var res importResult
	if len(a.Result) > 0 {
		if err := json.Unmarshal(a.Result, &res); err != nil {
			return nil, err
		}
	}
	for done := a.Progress; done < int64(len(p.Vouchers)); {
		batch := p.Vouchers[done:min(done+importBatch, int64(len(p.Vouchers)))]
		next := done + int64(len(batch))
		err := step(ctx, func(ctx context.Context, tx bun.Tx) (int64, error) {
			now := s.clock()
			codes := make([]string, len(batch))
			for i, in := range batch {
				codes[i] = in.Code
			}
			var existing []string
			if err := tx.NewSelect().Model((*Voucher)(nil)).Column("code").Where("tenant_id = ?", a.TenantID).
				Where("code IN (?)", bun.List(codes)).Scan(ctx, &existing); err != nil {
				return 0, err
			}
			taken := make(map[string]bool, len(existing))
			for _, c := range existing {
				taken[c] = true
			}
			duplicate := func(code string) {
				res.FailedCount++
				if len(res.Failed) < maxListedErrors {
					res.Failed = append(res.Failed, importFailure{Code: code, Reason: "duplicate_found"})
				}
			}
			var vs []Voucher
			for _, in := range batch {
				if taken[in.Code] {
					duplicate(in.Code)
					continue
				}
				v, err := in.voucher(a.TenantID, now, "")
				if err != nil {
					return 0, err
				}
				vs = append(vs, v)
			}
			if len(vs) > 0 {
				// A code another request created since the read above is a
				// duplicate too, not the end of the import.
				r, err := tx.NewInsert().Model(&vs).On("CONFLICT (tenant_id, code) DO NOTHING").Exec(ctx)
				if err != nil {
					return 0, fmt.Errorf("insert imported vouchers: %w", err)
				}
				if n, err := r.RowsAffected(); err != nil {
					return 0, fmt.Errorf("insert imported vouchers: %w", err)
				} else if n < int64(len(vs)) {
					stored := map[string]string{}
					var rows []Voucher
					if err := tx.NewSelect().Model(&rows).Column("v.id", "v.code").Where("v.tenant_id = ?", a.TenantID).
						Where("v.code IN (?)", bun.List(codes)).Scan(ctx); err != nil {
						return 0, err
					}
					for _, v := range rows {
						stored[v.Code] = v.ID
					}
					kept := vs[:0]
					for _, v := range vs {
						if stored[v.Code] == v.ID {
							kept = append(kept, v)
						} else {
							duplicate(v.Code)
						}
					}
					vs = kept
				}
			}
			res.DoneCount += int64(len(vs))
			b, err := json.Marshal(res)
			if err != nil {
				return 0, err
			}
			if _, err := tx.NewUpdate().Model((*jobs.Action)(nil)).Set("result = ?", json.RawMessage(b)).
				Where("tenant_id = ? AND id = ?", a.TenantID, a.ID).Exec(ctx); err != nil {
				return 0, err
			}
			return next, nil
		})
		if err != nil {
			return nil, err
		}
		done = next
	}
	err := s.db.InTx(ctx, a.TenantID, func(ctx context.Context, tx bun.Tx) error {
		return s.record(ctx, tx, a.TenantID, "vouchers.imported", ResourceVoucher, a.ID, map[string]any{"done": res.DoneCount, "failed": res.FailedCount})
	})
	return res, err
}
