package redemption

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// Qualification scenarios: where to look for redeemables.
const (
	ScenarioAll            = "ALL"             // the customer's vouchers and every live promotion tier
	ScenarioCustomerWallet = "CUSTOMER_WALLET" // the customer's vouchers only
	ScenarioAudienceOnly   = "AUDIENCE_ONLY"   // promotion tiers only
)

// Qualification sorting rules, Voucherify's options.sorting_rule.
const (
	SortDefault   = "DEFAULT"    // newest first (created_at descending): the order starting_after pages in
	SortBestDeal  = "BEST_DEAL"  // the largest discount first
	SortLeastDeal = "LEAST_DEAL" // the smallest discount first
)

// Qualification limits.
const (
	// MaxQualifyCandidates bounds the redeemables one qualification reads. A page
	// of the newest qualified ones usually takes a batch or two; past the bound the
	// answer says has_more, and the next page starts after the last one returned.
	MaxQualifyCandidates = 200
	DefaultQualifyLimit  = 5
	MaxQualifyLimit      = 50
	// qualifyBatch is how many candidates of each kind one round reads.
	qualifyBatch = 50
)

// QualifyRequest is the body of POST /v1/qualifications.
type QualifyRequest struct {
	Customer *CustomerRef   `json:"customer,omitempty"`
	Order    *Order         `json:"order,omitempty"`
	Scenario string         `json:"scenario,omitempty" jsonschema:"enum=ALL,enum=CUSTOMER_WALLET,enum=AUDIENCE_ONLY"`
	Options  *QualifyOption `json:"options,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// QualifyOption are Voucherify's qualification options Punchcard honours.
type QualifyOption struct {
	Limit         int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50"`
	StartingAfter string `json:"starting_after,omitempty" jsonschema:"format=date-time,description=Paging cursor: the created_at of the last redeemable of the previous page; only redeemables created before it are judged"`
	SortingRule   string `json:"sorting_rule,omitempty" jsonschema:"enum=DEFAULT,enum=BEST_DEAL,enum=LEAST_DEAL,description=DEFAULT (the default): newest first; BEST_DEAL: the largest discount first; LEAST_DEAL: the smallest first"`
}

// Qualify finds the redeemables that would apply to the order, each judged alone
// by the eligibility policy and priced alone, in the order of the sorting rule,
// and says whether more may qualify than it returned. It pages as Voucherify
// does: newest first, each page starting after the created_at of the last
// redeemable of the one before (options.starting_after).
func (e *Engine) Qualify(ctx context.Context, t Tenant, q QualifyRequest) (Result, bool, error) {
	ctx, span := e.tracer.Start(ctx, "redemption.Qualify", trace.WithAttributes(telemetry.TenantAttr(t.ID)))
	defer span.End()
	switch q.Scenario {
	case "":
		q.Scenario = ScenarioAll
	case ScenarioAll, ScenarioCustomerWallet, ScenarioAudienceOnly:
	default:
		return Result{}, false, problem.Invalid("scenario", "scenario must be ALL, CUSTOMER_WALLET or AUDIENCE_ONLY")
	}
	var opts QualifyOption
	if q.Options != nil {
		opts = *q.Options
	}
	limit := DefaultQualifyLimit
	if opts.Limit != 0 {
		if opts.Limit < 1 || opts.Limit > MaxQualifyLimit {
			return Result{}, false, problem.Invalidf("options.limit", "options.limit must be between 1 and %d", MaxQualifyLimit)
		}
		limit = opts.Limit
	}
	switch opts.SortingRule {
	case "":
		opts.SortingRule = SortDefault
	case SortDefault, SortBestDeal, SortLeastDeal:
	default:
		return Result{}, false, problem.Invalid("options.sorting_rule", "options.sorting_rule must be DEFAULT, BEST_DEAL or LEAST_DEAL")
	}
	var page cursor
	if opts.StartingAfter != "" {
		at, err := time.Parse(time.RFC3339Nano, opts.StartingAfter)
		if err != nil {
			return Result{}, false, problem.Invalid("options.starting_after",
				"options.starting_after must be a date-time such as 2026-12-03T10:00:00.123456Z: the created_at of the last redeemable of the previous page")
		}
		at = at.UTC() // stored times are UTC, and SQLite compares them as text
		page.at = &at
	}
	if q.Order == nil {
		q.Order = &Order{}
	}
	if err := q.Order.Normalize(t.Currency); err != nil {
		return Result{}, false, err
	}
	if c := q.Customer; c != nil {
		if c.ID == "" && c.SourceID == "" {
			q.Customer = nil
		} else if err := c.check(e.now()); err != nil {
			return Result{}, false, err
		}
	}
	now, local, err := e.clock(t)
	if err != nil {
		return Result{}, false, err
	}
	holderID, err := e.holder(ctx, t, q)
	if err != nil {
		return Result{}, false, err
	}

	var (
		res       Result
		in        policies.Document
		judged    int
		exhausted bool
	)
	for first := true; !exhausted && judged < MaxQualifyCandidates; first = false {
		var batch []RedeemableRef
		batch, page, exhausted, err = e.candidates(ctx, t, q.Scenario, holderID, page)
		if err != nil {
			return Result{}, false, err
		}
		snap, err := e.read(ctx, t, nil, batch, q.Customer, local, now)
		if err != nil {
			return Result{}, false, err
		}
		if first {
			res = Result{Stacking: snap.stacking, Customer: snap.customer, Channel: channelOf(q.Metadata), Local: local, Order: *q.Order,
				Totals: NewCalculation(q.Order, snap.stacking.DiscountCalculationMode, false).Totals()}
			if in, err = e.document(ctx, t, nil, now, local, res.Channel, snap.customer, q.Order); err != nil {
				return Result{}, false, err
			}
		}
		judged += len(batch)
		for _, ref := range batch {
			o, found := snap.outcome(ref)
			if !found {
				continue
			}
			own := map[string]any{"redeemable": redeemableDoc(&o, snap, res.Customer, local)}
			if d, _ := e.policies.EvaluateDocument(ctx, t.ID, policies.Eligibility, in, own); !d.Allowed() {
				continue
			}
			// Priced alone, on the order as it is.
			o.Status = StatusApplicable
			o.Applied = e.apply(NewCalculation(q.Order, snap.stacking.DiscountCalculationMode, false), &o)
			res.Outcomes = append(res.Outcomes, o)
		}
		// Newest first, a page is complete once it holds one more than the limit.
		if opts.SortingRule == SortDefault && len(res.Outcomes) > limit {
			break
		}
	}
	switch opts.SortingRule {
	case SortBestDeal:
		slices.SortStableFunc(res.Outcomes, func(a, b Outcome) int { return cmp.Compare(b.Applied.Total(), a.Applied.Total()) })
	case SortLeastDeal:
		slices.SortStableFunc(res.Outcomes, func(a, b Outcome) int { return cmp.Compare(a.Applied.Total(), b.Applied.Total()) })
	}
	cut := min(len(res.Outcomes), limit)
	if opts.SortingRule == SortDefault {
		cut = pageCut(res.Outcomes, limit)
	}
	more := cut < len(res.Outcomes) || !exhausted
	res.Outcomes = res.Outcomes[:cut]
	res.Valid = len(res.Outcomes) > 0
	return res, more, nil
}

// pageCut is where a page of outcomes, newest first, ends: after limit of them,
// but never between two created at the same moment (a promotion's tiers, codes
// generated together), which the next page's starting_after could not tell
// apart: such a group moves to the next page, or, when it fills the page from its
// start, is returned whole.
func pageCut(os []Outcome, limit int) int {
	if len(os) <= limit {
		return len(os)
	}
	at := os[limit-1].CreatedAt()
	if !os[limit].CreatedAt().Equal(at) {
		return limit
	}
	start := limit - 1
	for start > 0 && os[start-1].CreatedAt().Equal(at) {
		start--
	}
	if start > 0 {
		return start
	}
	end := limit
	for end < len(os) && os[end].CreatedAt().Equal(at) {
		end++
	}
	return end
}

// CreatedAt is when the outcome's voucher or promotion tier was created: the
// cursor of a qualification's pages.
func (o Outcome) CreatedAt() time.Time {
	switch {
	case o.Voucher != nil:
		return o.Voucher.CreatedAt
	case o.Tier != nil:
		return o.Tier.CreatedAt
	}
	return time.Time{}
}

// holder is the id of the customer whose wallet a qualification searches, or ""
// when it searches none (AUDIENCE_ONLY, no customer, or one the tenant does not
// know yet).
func (e *Engine) holder(ctx context.Context, t Tenant, q QualifyRequest) (string, error) {
	if q.Scenario == ScenarioAudienceOnly || q.Customer == nil {
		return "", nil
	}
	var id string
	err := e.db.Read(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
		c, err := customers.Find(ctx, tx, t.ID, q.Customer.ID, q.Customer.SourceID)
		if c != nil {
			id = c.ID
		}
		return err
	})
	return id, err
}

// cursor is where the next candidates start: those created before at (at or
// before it, when inclusive); a nil at is the newest.
type cursor struct {
	at        *time.Time
	inclusive bool
}

func (c cursor) where(q *bun.SelectQuery, column string) *bun.SelectQuery {
	switch {
	case c.at == nil:
		return q
	case c.inclusive:
		return q.Where(column+" <= ?", *c.at)
	}
	return q.Where(column+" < ?", *c.at)
}

// candidate is a redeemable a qualification may judge, with its creation time.
type candidate struct {
	ref RedeemableRef
	at  time.Time
}

// candidates reads the next batch, newest first, of the redeemables a
// qualification judges: the wallet's active vouchers (holderID's, unless the
// scenario is AUDIENCE_ONLY) and the active tiers of active promotions (unless it
// is CUSTOMER_WALLET), created before from. A batch ends where both kinds are
// read completely, so that the next batch, from the returned cursor, neither
// misses nor repeats one; exhausted says there is none after it.
func (e *Engine) candidates(ctx context.Context, t Tenant, scenario, holderID string, from cursor) (refs []RedeemableRef, next cursor, exhausted bool, err error) {
	var lists [][]candidate
	err = e.db.Read(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
		if scenario != ScenarioAudienceOnly && holderID != "" {
			var vs []campaigns.Voucher
			q := tx.NewSelect().Model(&vs).Column("v.code", "v.created_at").Where("v.tenant_id = ? AND v.holder_id = ? AND v.active", t.ID, holderID)
			if err := from.where(q, "v.created_at").OrderExpr("v.created_at DESC, v.id DESC").Limit(qualifyBatch).Scan(ctx); err != nil {
				return fmt.Errorf("load the customer's vouchers: %w", err)
			}
			l := make([]candidate, len(vs))
			for i, v := range vs {
				l[i] = candidate{RedeemableRef{Object: ObjectVoucher, ID: v.Code}, v.CreatedAt}
			}
			lists = append(lists, l)
		}
		if scenario != ScenarioCustomerWallet {
			var ts []campaigns.Tier
			q := tx.NewSelect().Model(&ts).Column("pt.id", "pt.created_at").
				Join("JOIN campaigns AS cp ON cp.tenant_id = pt.tenant_id AND cp.id = pt.campaign_id").
				Where("pt.tenant_id = ? AND pt.active AND cp.active", t.ID)
			if err := from.where(q, "pt.created_at").OrderExpr("pt.created_at DESC, pt.hierarchy, pt.id").Limit(qualifyBatch).Scan(ctx); err != nil {
				return fmt.Errorf("load promotion tiers: %w", err)
			}
			l := make([]candidate, len(ts))
			for i, tr := range ts {
				l[i] = candidate{RedeemableRef{Object: ObjectPromotionTier, ID: tr.ID}, tr.CreatedAt}
			}
			lists = append(lists, l)
		}
		return nil
	})
	if err != nil {
		return nil, from, false, err
	}
	batch, next, exhausted := batchOf(lists, qualifyBatch, from)
	return refsOf(batch), next, exhausted, nil
}

// batchOf is the batch of candidates lists (each newest first, at most n long,
// read from the cursor from) hold, newest first, with the cursor of the next
// batch and whether there is none.
func batchOf(lists [][]candidate, n int, from cursor) (batch []candidate, next cursor, exhausted bool) {
	all, boundary := mergeNewestFirst(lists, n)
	if boundary == nil {
		return all, from, true
	}
	// A full list may have more at its oldest moment: the batch stops above it,
	// and the next one starts there.
	newer := slices.DeleteFunc(slices.Clone(all), func(c candidate) bool { return !c.at.After(*boundary) })
	if len(newer) > 0 {
		return newer, cursor{at: boundary, inclusive: true}, false
	}
	// A full batch created at one moment, and nothing newer: the batch is what
	// was read of that moment, and the rest of it is not judged (bulk-generated
	// codes in one wallet, past qualifyBatch of them).
	at := slices.DeleteFunc(all, func(c candidate) bool { return !c.at.Equal(*boundary) })
	return at, cursor{at: boundary}, false
}

// mergeNewestFirst merges lists, each newest first, into one (stable: at one
// moment, the earlier list's first), and returns the latest of the oldest
// moments of the lists that were full (n long), or nil when none was.
func mergeNewestFirst(lists [][]candidate, n int) ([]candidate, *time.Time) {
	var all []candidate
	var boundary *time.Time
	for _, l := range lists {
		all = append(all, l...)
		if len(l) == n {
			if oldest := l[n-1].at; boundary == nil || oldest.After(*boundary) {
				boundary = &oldest
			}
		}
	}
	slices.SortStableFunc(all, func(a, b candidate) int { return b.at.Compare(a.at) })
	return all, boundary
}

func refsOf(cs []candidate) []RedeemableRef {
	refs := make([]RedeemableRef, len(cs))
	for i, c := range cs {
		refs[i] = c.ref
	}
	return refs
}
