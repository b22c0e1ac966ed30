package redemption

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// Qualification scenarios: where to look for redeemables.
const (
	ScenarioAll            = "ALL"             // the customer's vouchers and every live promotion tier
	ScenarioCustomerWallet = "CUSTOMER_WALLET" // the customer's vouchers only
	ScenarioAudienceOnly   = "AUDIENCE_ONLY"   // as ALL, judged on the customer alone: order rules are not (input.scenario)
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
	// answer says has_more, and more_starting_after where reading stopped.
	MaxQualifyCandidates = 200
	DefaultQualifyLimit  = 5
	MaxQualifyLimit      = 50
	// qualifyBatch is how many candidates of each kind one round reads.
	qualifyBatch = 50
	// momentCap bounds the candidates of each kind created at one moment that
	// a qualification reads (a promotion has at most campaigns.MaxTiers tiers;
	// codes generated together for one wallet are the case this bounds).
	momentCap = 1000
)

// QualifyRequest is the body of POST /v1/qualifications.
type QualifyRequest struct {
	Customer *CustomerRef   `json:"customer,omitempty"`
	Order    *Order         `json:"order,omitempty"`
	Scenario string         `json:"scenario,omitempty" jsonschema:"enum=ALL,enum=CUSTOMER_WALLET,enum=AUDIENCE_ONLY,description=ALL (default): the customer's vouchers and the live promotion tiers judged on the order and the customer; CUSTOMER_WALLET: the customer's vouchers only; AUDIENCE_ONLY: as ALL judged on the customer alone (order rules left out)"`
	Options  *QualifyOption `json:"options,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// QualifyOption are Voucherify's qualification options Punchcard honours.
type QualifyOption struct {
	Limit         int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50"`
	StartingAfter string `json:"starting_after,omitempty" jsonschema:"format=date-time,description=Paging cursor: the created_at of the last redeemable of the previous page; only redeemables created before it are judged"`
	SortingRule   string `json:"sorting_rule,omitempty" jsonschema:"enum=DEFAULT,enum=BEST_DEAL,enum=LEAST_DEAL,description=DEFAULT (the default): newest first; BEST_DEAL: the largest discount first; LEAST_DEAL: the smallest first. BEST_DEAL and LEAST_DEAL sort what one request reads (up to 200 candidates, newest first): page on with more_starting_after"`
	// Filters (Voucherify's, on resource type, campaign and the like) are not
	// served: sent with a value they are refused, not ignored, so that a page
	// is never read as filtered when it is not.
	Filters json.RawMessage `json:"filters,omitempty" jsonschema:"-"`
}

// Qualify finds the redeemables that would apply to the order, each judged alone
// by the eligibility policy and priced alone, in the order of the sorting rule,
// and says whether more may qualify than it returned, and from where. It pages
// as Voucherify does: newest first, each page starting after the created_at of
// the last redeemable of the one before (options.starting_after, answered as
// more_starting_after). With BEST_DEAL or LEAST_DEAL a page is the best (least)
// of the candidates one request reads, and the next page reads on from there.
func (e *Engine) Qualify(ctx context.Context, t Tenant, q QualifyRequest) (Result, QualifyPage, error) {
	ctx, span := e.tracer.Start(ctx, "redemption.Qualify", trace.WithAttributes(telemetry.TenantAttr(t.ID)))
	defer span.End()
	switch q.Scenario {
	case "":
		q.Scenario = ScenarioAll
	case ScenarioAll, ScenarioCustomerWallet, ScenarioAudienceOnly:
	default:
		return Result{}, QualifyPage{}, problem.Invalid("scenario", "scenario must be ALL, CUSTOMER_WALLET or AUDIENCE_ONLY")
	}
	var opts QualifyOption
	if q.Options != nil {
		opts = *q.Options
	}
	limit, page, err := opts.check()
	if err != nil {
		return Result{}, QualifyPage{}, err
	}
	if q.Order == nil {
		q.Order = &Order{}
	}
	if err := q.Order.Normalize(t.Currency); err != nil {
		return Result{}, QualifyPage{}, err
	}
	if err := checkCustomer(&q.Customer, e.now()); err != nil {
		return Result{}, QualifyPage{}, err
	}
	now, local, err := e.clock(t)
	if err != nil {
		return Result{}, QualifyPage{}, err
	}
	// The stacking rules and the customer, once; the candidates in batches.
	base, err := e.read(ctx, t, nil, nil, q.Customer, local, now)
	if err != nil {
		return Result{}, QualifyPage{}, err
	}
	holderID := ""
	if base.customer != nil {
		holderID = base.customer.ID // "" for a customer the tenant does not know yet
	}
	res := Result{Stacking: base.stacking, Customer: base.customer, Channel: channelOf(q.Metadata), Local: local, Order: *q.Order,
		Totals: NewCalculation(q.Order, base.stacking.DiscountCalculationMode, false).Totals()}
	in, undecided, err := e.document(ctx, t, nil, now, local, res.Channel, q.Scenario, base.customer, q.Order)
	if err != nil {
		return Result{}, QualifyPage{}, err
	}
	if undecided != nil {
		return Result{}, QualifyPage{}, undecidedError(undecided)
	}

	candidatesRead, exhausted := 0, false
	for !exhausted && candidatesRead < MaxQualifyCandidates {
		var batch []RedeemableRef
		if batch, page, exhausted, err = e.candidates(ctx, t, q.Scenario, holderID, page); err != nil {
			return Result{}, QualifyPage{}, err
		}
		candidatesRead += len(batch)
		snap, err := e.readRefs(ctx, t, base, batch, local)
		if err != nil {
			return Result{}, QualifyPage{}, err
		}
		for _, ref := range batch {
			o, found := snap.outcome(ref)
			if !found {
				continue
			}
			doc := redeemableDoc(&o, snap, res.Customer, local)
			if d, _ := e.policies.EvaluateDocument(ctx, t.ID, policies.Eligibility, in, map[string]any{"redeemable": doc}); !d.Allowed() {
				continue
			}
			// Priced alone, on the order as it is, within its campaign's budget.
			a := e.apply(NewCalculation(q.Order, snap.stacking.DiscountCalculationMode, false), &o)
			if e.overBudget(ctx, t.ID, in, &o, a, nil, func(discount int64) (any, error) {
				doc["discount_amount"] = discount
				return doc, nil
			}) != nil {
				continue
			}
			o.Status, o.Applied = StatusApplicable, a
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
	var next QualifyPage
	if !exhausted {
		// What was read ends at the cursor: the next page starts there.
		next.StartingAfter = page.startingAfter()
	}
	if opts.SortingRule == SortDefault {
		cut = pageCut(res.Outcomes, limit)
		if cut < len(res.Outcomes) {
			at := res.Outcomes[cut-1].CreatedAt()
			next.StartingAfter = &at
		}
	}
	next.More = cut < len(res.Outcomes) || !exhausted
	res.Outcomes = res.Outcomes[:cut]
	res.Valid = len(res.Outcomes) > 0
	return res, next, nil
}

// check checks the options, filling in the default sorting rule, and returns
// the page size and where the page starts.
func (o *QualifyOption) check() (limit int, from cursor, err error) {
	if campaigns.Sent(o.Filters) {
		return 0, from, problem.Invalid("options.filters", "options.filters is not supported: narrow a qualification with scenario (ALL, CUSTOMER_WALLET, AUDIENCE_ONLY)")
	}
	limit = DefaultQualifyLimit
	if o.Limit != 0 {
		if o.Limit < 1 || o.Limit > MaxQualifyLimit {
			return 0, from, problem.Invalidf("options.limit", "options.limit must be between 1 and %d", MaxQualifyLimit)
		}
		limit = o.Limit
	}
	switch o.SortingRule {
	case "":
		o.SortingRule = SortDefault
	case SortDefault, SortBestDeal, SortLeastDeal:
	default:
		return 0, from, problem.Invalid("options.sorting_rule", "options.sorting_rule must be DEFAULT, BEST_DEAL or LEAST_DEAL")
	}
	if o.StartingAfter != "" {
		at, err := time.Parse(time.RFC3339Nano, o.StartingAfter)
		if err != nil {
			return 0, from, problem.Invalid("options.starting_after",
				"options.starting_after must be a date-time such as 2026-12-03T10:00:00.123456Z: the created_at of the last redeemable of the previous page")
		}
		// Stored times are UTC microseconds, and SQLite compares them as text:
		// "before t" is "before t rounded up to the microsecond".
		at = at.UTC()
		if us := at.Truncate(time.Microsecond); !us.Equal(at) {
			at = us.Add(time.Microsecond)
		}
		from.at = &at
	}
	return limit, from, nil
}

// QualifyPage is where a qualification's answer sits among all it could give.
type QualifyPage struct {
	// More says more redeemables may qualify than were returned.
	More bool
	// StartingAfter, when set, is the starting_after of the next page: newest
	// first, the created_at of the last redeemable returned; past the candidates
	// one request reads (or, with BEST_DEAL and LEAST_DEAL, which sort what was
	// read), where reading stopped.
	StartingAfter *time.Time
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

// cursor is where the next candidates start: those created before at (at or
// before it, when inclusive); a nil at is the newest.
type cursor struct {
	at        *time.Time
	inclusive bool
}

// startingAfter is the cursor as Voucherify's starting_after says it: created
// before a moment. Times are stored to the microsecond, so "at or before t" is
// "before t plus a microsecond".
func (c cursor) startingAfter() *time.Time {
	if c.at == nil {
		return nil
	}
	at := *c.at
	if c.inclusive {
		at = at.Add(time.Microsecond)
	}
	return &at
}

// candidateReader is one read of the candidate lists: from the cursor, at most n
// of each kind, or, with a moment, those created at that moment (at most n).
type candidateReader func(from cursor, moment *time.Time, n int) ([][]candidate, error)

// where is how a read from c (or of moment) compares created_at, with the time
// it compares with: "" when it reads from the newest. The comparison picks the
// statement of candidateReads.
func (c cursor) where(moment *time.Time) (op string, arg any) {
	switch {
	case moment != nil:
		return "=", *moment
	case c.at == nil:
		return "", nil
	case c.inclusive:
		return "<=", *c.at
	}
	return "<", *c.at
}

// candidateReads are the prepared reads of a qualification's candidates, by
// kind and by the comparison of cursor.where: newest first, from a cursor, at
// most a number.
var candidateReads = newCandidateReads()

type candidateRead struct{ kind, op string }

func newCandidateReads() map[candidateRead]*db.Statement {
	reads := map[candidateRead]*db.Statement{}
	for _, op := range []string{"", "=", "<=", "<"} {
		from := func(column string) string {
			if op == "" {
				return ""
			}
			return " AND " + column + " " + op + " ?"
		}
		reads[candidateRead{ObjectVoucher, op}] = db.NewRawStatement("SELECT", "vouchers",
			`SELECT v.code, v.created_at FROM vouchers AS v
			WHERE v.tenant_id = ? AND v.holder_id = ? AND v.active`+from("v.created_at")+`
			ORDER BY v.created_at DESC, v.id DESC LIMIT ?`)
		reads[candidateRead{ObjectPromotionTier, op}] = db.NewRawStatement("SELECT", "promotion_tiers",
			`SELECT pt.id, pt.created_at FROM promotion_tiers AS pt
			JOIN campaigns AS cp ON cp.tenant_id = pt.tenant_id AND cp.id = pt.campaign_id
			WHERE pt.tenant_id = ? AND pt.active AND cp.active`+from("pt.created_at")+`
			ORDER BY pt.created_at DESC, pt.hierarchy, pt.id LIMIT ?`)
	}
	return reads
}

// candidate is a redeemable a qualification may judge, with its creation time.
type candidate struct {
	ref RedeemableRef
	at  time.Time
}

// candidates reads the next batch, newest first, of the redeemables a
// qualification judges: the wallet's active vouchers (holderID's) and the active
// tiers of active promotions (unless the scenario is CUSTOMER_WALLET), created
// before from. exhausted says there is none after
// the batch; otherwise next is where the next batch starts (see nextBatch).
func (e *Engine) candidates(ctx context.Context, t Tenant, scenario, holderID string, from cursor) (refs []RedeemableRef, next cursor, exhausted bool, err error) {
	readLists := func(from cursor, moment *time.Time, n int) ([][]candidate, error) {
		var lists [][]candidate
		op, at := from.where(moment)
		args := func(first ...any) []any {
			if op != "" {
				first = append(first, at)
			}
			return append(first, n)
		}
		// The two lists need no one snapshot: each is judged complete on its own.
		err := e.db.ReadEach(ctx, t.ID, func(ctx context.Context, q bun.IDB) error {
			if holderID != "" {
				var vs []campaigns.Voucher
				if err := candidateReads[candidateRead{ObjectVoucher, op}].Scan(ctx, q, &vs, 0, args(t.ID, holderID)...); err != nil {
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
				if err := candidateReads[candidateRead{ObjectPromotionTier, op}].Scan(ctx, q, &ts, 0, args(t.ID)...); err != nil {
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
		return lists, err
	}
	batch, next, exhausted, err := nextBatch(readLists, qualifyBatch, from)
	return refsOf(batch), next, exhausted, err
}

// nextBatch reads the batch of candidates after from, newest first, at most
// about n of each kind, with the cursor of the next batch, or exhausted when
// there is none. A batch ends where every list is read completely, so that the
// next batch neither misses nor repeats a candidate: a full list may have more at
// its oldest moment, so the batch stops above that moment and the next one
// starts at it; when a whole batch is one moment (a promotion's tiers, codes
// generated together, past n of them), that moment is read whole, up to
// momentCap of each kind, and the next batch starts below it.
func nextBatch(r candidateReader, n int, from cursor) (batch []candidate, next cursor, exhausted bool, err error) {
	lists, err := r(from, nil, n)
	if err != nil {
		return nil, from, false, err
	}
	all, boundary := mergeNewestFirst(lists), fullUntil(lists, n)
	if boundary == nil {
		return all, from, true, nil
	}
	if newer := slices.DeleteFunc(all, func(c candidate) bool { return !c.at.After(*boundary) }); len(newer) > 0 {
		return newer, cursor{at: boundary, inclusive: true}, false, nil
	}
	if lists, err = r(from, boundary, momentCap); err != nil {
		return nil, from, false, err
	}
	return mergeNewestFirst(lists), cursor{at: boundary}, false, nil
}

// mergeNewestFirst merges lists, each newest first, into one (stable: at one
// moment, the earlier list's first).
func mergeNewestFirst(lists [][]candidate) []candidate {
	all := slices.Concat(lists...)
	slices.SortStableFunc(all, func(a, b candidate) int { return b.at.Compare(a.at) })
	return all
}

// fullUntil is the latest of the oldest moments of the lists that are full (n
// long), which may hold more at that moment, or nil when none is: the lists are
// complete above it.
func fullUntil(lists [][]candidate, n int) *time.Time {
	var until *time.Time
	for _, l := range lists {
		if len(l) == n {
			if oldest := l[n-1].at; until == nil || oldest.After(*until) {
				until = &oldest
			}
		}
	}
	return until
}

func refsOf(cs []candidate) []RedeemableRef {
	refs := make([]RedeemableRef, len(cs))
	for i, c := range cs {
		refs[i] = c.ref
	}
	return refs
}
