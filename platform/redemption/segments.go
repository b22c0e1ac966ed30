package redemption

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// TenantPolicies tells the engine which policies a tenant has written itself;
// *policystore.Store is one.
type TenantPolicies interface {
	Active(ctx context.Context, tenantID string, kind policies.Kind) (policies.TenantPolicy, error)
}

// UseTenantPolicies lets the engine see which tenants have policies of their
// own. For them, input.customer carries the customer's stats (read from their
// redemptions) and the segments their segments policy puts the customer in;
// tenants on the base policies alone, which read neither, skip that work.
func (e *Engine) UseTenantPolicies(p TenantPolicies) { e.tenantPolicies = p }

// customized reports whether tenantID has its own policy of any kind, and
// whether one of them is a segments policy. The first call for a tenant loads
// its active versions in a transaction of its own, so callers about to open a
// transaction call it first (Redeem does).
func (e *Engine) customized(ctx context.Context, tenantID string) (own, segments bool, err error) {
	if e.tenantPolicies == nil {
		return false, false, nil
	}
	for _, k := range []policies.Kind{policies.Segments, policies.Eligibility, policies.Stacking, policies.Fraud} {
		p, err := e.tenantPolicies.Active(ctx, tenantID, k)
		if err != nil {
			return false, false, err
		}
		if p.Version != "" {
			own = true
			segments = segments || k == policies.Segments
		}
	}
	return own, segments, nil
}

// fraudThresholds are the thresholds the tenant set in its fraud policy's data,
// the fraud policy's input.settings.fraud.
func (e *Engine) fraudThresholds(ctx context.Context, tenantID string) (map[string]any, error) {
	if e.tenantPolicies == nil {
		return map[string]any{}, nil
	}
	p, err := e.tenantPolicies.Active(ctx, tenantID, policies.Fraud)
	if err != nil {
		return nil, err
	}
	return policies.TenantThresholds(p.Data), nil
}

// document is the request's shared policy input, converted for OPA once. tx,
// when not nil, is the transaction the request reads in; scenario, when not
// empty, is a qualification's (input.scenario).
// undecided, when not nil, is why the customer's segments are unknown
// (segmentsOf): the request is refused with it.
func (e *Engine) document(ctx context.Context, t Tenant, tx bun.IDB, now time.Time, l Local, channel, scenario string, c *customers.Customer, o *Order) (doc policies.Document, undecided *policies.Reason, err error) {
	base := inputBase(t, now, l, channel, c, o)
	if scenario != "" {
		base["scenario"] = scenario
	}
	if c != nil {
		if undecided, err = e.personalise(ctx, t, tx, base); err != nil {
			return policies.Document{}, nil, err
		}
	}
	doc, err = policies.NewDocument(base)
	return doc, undecided, err
}

// personalise completes input.customer of base with the customer's stats and
// segments, for tenants with policies of their own, reading in tx when given.
// undecided is the reason when the segments policy could not decide (see
// segmentsOf).
func (e *Engine) personalise(ctx context.Context, t Tenant, tx bun.IDB, base map[string]any) (undecided *policies.Reason, err error) {
	own, segments, err := e.customized(ctx, t.ID)
	if err != nil || !own {
		return nil, err
	}
	doc := base["customer"].(map[string]any)
	id := doc["id"].(string)
	var stats map[string]*CustomerStats
	if tx != nil {
		stats, err = LoadCustomerStats(ctx, tx, t.ID, []string{id})
	} else {
		err = e.db.Read(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
			stats, err = LoadCustomerStats(ctx, tx, t.ID, []string{id})
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	doc["stats"] = stats[id].doc()
	if segments {
		members, undecided, err := e.segmentsOf(ctx, t.ID, base)
		if err != nil || undecided != nil {
			return undecided, err
		}
		list := make([]any, len(members)) // the input document holds plain values only
		for i, m := range members {
			list[i] = m
		}
		doc["segments"] = list
	}
	return nil, nil
}

// segmentsOf evaluates the tenant's segments policy on input. A policy that
// cannot decide (it fails, or runs past its deadline; its policies.Evaluate
// span records why) leaves the customer's segments unknown: undecided is the
// reason, and what the request asks is refused with it, as a fraud denial
// refuses it. Putting the customer in no segment instead would let through a
// customer whom a segment (say "blocked") is there to refuse.
func (e *Engine) segmentsOf(ctx context.Context, tenantID string, input map[string]any) (members []string, undecided *policies.Reason, err error) {
	doc, err := policies.NewDocument(input)
	if err != nil {
		return nil, nil, err
	}
	d, _ := e.policies.EvaluateDocument(ctx, tenantID, policies.Segments, doc, nil)
	if !d.Allowed() {
		return nil, &d.Deny[0], nil
	}
	return d.Members, nil, nil
}

// undecidedError is the answer to a request that needs a customer's segments
// when the segments policy could not decide them.
func undecidedError(r *policies.Reason) error {
	return &problem.Error{Kind: problem.KindUnprocessable, Key: r.Code, Message: "The customer's segments could not be decided",
		Details: r.Message + " (segments policy; try again)", Transient: r.Code == policies.CodeTimeout}
}

// CustomerStats is what a customer's redemptions say about their buying: the
// orders redeemed with an incentive, not rolled back. (Orders without one reach
// Punchcard with the orders API of loyalty programs.)
type CustomerStats struct {
	CustomerID  string    `bun:"customer_id"`
	Year        string    `bun:"year"` // in the tenant's time zone
	Orders      int64     `bun:"orders"`
	Spent       int64     `bun:"spent"` // order amounts less discounts, minor units
	Redemptions int64     `bun:"redemptions"`
	LastOrderAt time.Time `bun:"last_order_at"`

	byYear map[string]int64
}

// doc is input.customer.stats: {orders_count, total_spent, redemptions_count,
// last_order_at, spent_by_year{"2026": …}}.
func (s *CustomerStats) doc() map[string]any {
	if s == nil {
		return map[string]any{"orders_count": 0, "total_spent": 0, "redemptions_count": 0, "last_order_at": nil, "spent_by_year": map[string]any{}}
	}
	years := make(map[string]any, len(s.byYear))
	for y, v := range s.byYear {
		years[y] = v
	}
	var last any
	if !s.LastOrderAt.IsZero() {
		last = s.LastOrderAt.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{"orders_count": s.Orders, "total_spent": s.Spent, "redemptions_count": s.Redemptions,
		"last_order_at": last, "spent_by_year": years}
}

// LoadCustomerStats reads the stats of customerIDs in one query; a customer
// without redemptions has no entry.
func LoadCustomerStats(ctx context.Context, tx bun.IDB, tenantID string, customerIDs []string) (map[string]*CustomerStats, error) {
	out := make(map[string]*CustomerStats, len(customerIDs))
	if len(customerIDs) == 0 {
		return out, nil
	}
	var rows []CustomerStats
	err := tx.NewRaw(`SELECT customer_id, substr(local_date, 1, 4) AS year,
		sum(CASE WHEN parent_id IS NULL THEN 1 ELSE 0 END) AS orders,
		sum(CASE WHEN parent_id IS NULL THEN amount - discount_amount ELSE 0 END) AS spent,
		sum(CASE WHEN parent_id IS NULL THEN 0 ELSE 1 END) AS redemptions,
		max(created_at) AS last_order_at
		FROM redemptions
		WHERE tenant_id = ? AND customer_id IN (?) AND kind = 'redemption' AND status = ?
		GROUP BY customer_id, substr(local_date, 1, 4)`, tenantID, bun.List(customerIDs), Succeeded).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("load customer stats: %w", err)
	}
	for _, r := range rows {
		s, ok := out[r.CustomerID]
		if !ok {
			s = &CustomerStats{CustomerID: r.CustomerID, byYear: map[string]int64{}}
			out[r.CustomerID] = s
		}
		s.Orders += r.Orders
		s.Spent += r.Spent
		s.Redemptions += r.Redemptions
		s.byYear[r.Year] += r.Spent
		if r.LastOrderAt.After(s.LastOrderAt) {
			s.LastOrderAt = r.LastOrderAt
		}
	}
	return out, nil
}

// Segments returns the segments tenantID's segments policy puts each of cs in,
// by customer id (none without a segments policy).
func (e *Engine) Segments(ctx context.Context, t Tenant, cs []customers.Customer) (map[string][]string, error) {
	out := make(map[string][]string, len(cs))
	_, segments, err := e.customized(ctx, t.ID)
	if err != nil || !segments || len(cs) == 0 {
		return out, err
	}
	now, local, err := e.clock(t)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i := range cs {
		ids[i] = cs[i].ID
	}
	var stats map[string]*CustomerStats
	err = e.db.Read(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
		stats, err = LoadCustomerStats(ctx, tx, t.ID, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	empty := &Order{Items: []Item{}}
	for i := range cs {
		base := inputBase(t, now, local, "online", &cs[i], empty)
		base["customer"].(map[string]any)["stats"] = stats[cs[i].ID].doc()
		members, undecided, err := e.segmentsOf(ctx, t.ID, base)
		if err != nil {
			return nil, err
		}
		if undecided != nil {
			return nil, undecidedError(undecided)
		}
		out[cs[i].ID] = members
	}
	return out, nil
}

// MaxSegmentScan bounds the customers one segment listing evaluates: membership
// is decided by the tenant's Rego on each customer, so a listing reads every
// customer that matches its other filters.
const MaxSegmentScan = 100_000

// CustomersInSegment lists the customers the segments policy puts in segment,
// with f's other filters, order and paging (StartingAfter must then be a
// customer id). total counts every member, paging aside.
func (e *Engine) CustomersInSegment(ctx context.Context, t Tenant, cs *customers.Service, segment string, f customers.ListFilter) (page []customers.Customer, total int64, hasMore bool, err error) {
	if segment == "" {
		return nil, 0, false, problem.Invalid("segment", "segment: a segment name is required")
	}
	after := f.StartingAfter
	if after != "" && !strings.HasPrefix(after, "cust_") {
		return nil, 0, false, problem.Invalid("starting_after", "starting_after: with segment, use the id of the last customer of the previous page")
	}
	limit, offset := f.Limit, 0
	if limit == 0 {
		limit = customers.DefaultListLimit
	}
	if f.Page > 1 {
		offset = (f.Page - 1) * limit
	}
	scan := f
	scan.Limit, scan.Page, scan.StartingAfter = customers.MaxListLimit, 0, ""
	var members []customers.Customer
	scanned, seenCursor := 0, after == ""
	for {
		batch, _, more, err := cs.List(ctx, t.ID, scan)
		if err != nil {
			return nil, 0, false, err
		}
		if scanned += len(batch); scanned > MaxSegmentScan {
			return nil, 0, false, problem.Unprocessable("segment_too_large",
				fmt.Sprintf("listing a segment evaluates every customer, and this tenant has more than %d that match the other filters; narrow them (created_at, city…)", MaxSegmentScan))
		}
		in, err := e.Segments(ctx, t, batch)
		if err != nil {
			return nil, 0, false, err
		}
		for _, c := range batch {
			if slices.Contains(in[c.ID], segment) {
				total++
				if seenCursor {
					members = append(members, c)
				}
			}
			if c.ID == after {
				seenCursor = true
			}
		}
		if !more || len(batch) == 0 {
			break
		}
		scan.StartingAfter = batch[len(batch)-1].ID
	}
	if offset >= len(members) {
		return []customers.Customer{}, total, false, nil
	}
	members = members[offset:]
	return members[:min(limit, len(members))], total, len(members) > limit, nil
}
