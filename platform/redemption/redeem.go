package redemption

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// Redemption statuses.
const (
	Succeeded  = "SUCCEEDED"
	Failed     = "FAILED"
	RolledBack = "ROLLED_BACK"
)

// Id prefixes.
const (
	idRedemption = "r"
	idRollback   = "rr"
	idEvent      = "oev"
)

// Record is a stored redemption or rollback, parent or child.
type Record struct {
	bun.BaseModel `bun:"table:redemptions,alias:rd"`

	TenantID       string          `bun:"tenant_id,pk"`
	ID             string          `bun:"id,pk"`
	ParentID       string          `bun:"parent_id,nullzero"`
	Kind           string          `bun:"kind"` // redemption or rollback
	RedemptionID   string          `bun:"redemption_id,nullzero"`
	Status         string          `bun:"status"`
	CustomerID     string          `bun:"customer_id,nullzero"`
	VoucherID      string          `bun:"voucher_id,nullzero"`
	VoucherCode    string          `bun:"voucher_code,nullzero"`
	TierID         string          `bun:"tier_id,nullzero"`
	CampaignID     string          `bun:"campaign_id,nullzero"`
	OrderID        string          `bun:"order_id,nullzero"`
	OrderData      json.RawMessage `bun:"order_data,type:jsonb,nullzero"`
	Amount         int64           `bun:"amount"`
	DiscountAmount int64           `bun:"discount_amount"`
	GiftCredits    int64           `bun:"gift_credits"`
	Channel        string          `bun:"channel,nullzero"`
	LocalDate      string          `bun:"local_date"`
	Reason         string          `bun:"reason,nullzero"`
	ActorID        string          `bun:"actor_id,nullzero"` // the API key or user that made it
	Metadata       map[string]any  `bun:"metadata,type:jsonb,nullzero,json_use_number"`
	CreatedAt      time.Time       `bun:"created_at"`
}

// StoredOrder is the order a parent redemption stored, with its totals and the
// discount on each item, as the redemption computed them.
type StoredOrder struct {
	Order         Order   `json:"order"`
	Totals        Totals  `json:"totals"`
	ItemDiscounts []int64 `json:"item_discounts,omitempty"` // by item index
}

// Order is the order r stored: a parent redemption's or its rollback's; false
// for other records.
func (r Record) Order() (StoredOrder, bool) {
	var o StoredOrder
	if len(r.OrderData) == 0 || json.Unmarshal(r.OrderData, &o) != nil {
		return StoredOrder{}, false
	}
	return o, true
}

// ItemDiscounts is the discount the applicable redeemables give each item of
// the order, by item index.
func (res Result) ItemDiscounts() []int64 {
	out := make([]int64, len(res.Order.Items))
	for _, o := range res.Outcomes {
		if o.Status != StatusApplicable {
			continue
		}
		for _, d := range o.Applied.ItemDiscounts {
			if d.Index >= 0 && d.Index < len(out) {
				out[d.Index] += d.Amount
			}
		}
	}
	return out
}

// Related is what the record is about, as Voucherify's related_object_type and
// related_object_id: a parent is about a redemption (itself, or for a rollback the
// one it reverses), a child about its voucher or promotion tier.
func (r Record) Related() (typ, id string) {
	switch {
	case r.ParentID == "" && r.Kind == "rollback":
		return "redemption", r.RedemptionID
	case r.ParentID == "":
		return "redemption", r.ID
	case r.TierID != "":
		return "promotion_tier", r.TierID
	default:
		return "voucher", r.VoucherID
	}
}

// redeemable is the code or promotion tier id a child record redeemed.
func (r Record) redeemable() string {
	if r.TierID != "" {
		return r.TierID
	}
	return r.VoucherCode
}

// Redemption is a successful redemption: the parent and one child per applied
// redeemable, with the evaluation that decided it.
type Redemption struct {
	Parent   Record
	Children []Record
	Result   Result
}

// outboxEvent is a domain event for later delivery.
type outboxEvent struct {
	bun.BaseModel `bun:"table:outbox,alias:ob"`

	TenantID  string          `bun:"tenant_id,pk"`
	ID        string          `bun:"id,pk"`
	Type      string          `bun:"type"`
	Payload   json.RawMessage `bun:"payload,type:jsonb"`
	CreatedAt time.Time       `bun:"created_at"`
}

// Commit is called inside the transaction that stores a redemption or rollback,
// so that what the caller keeps (the idempotent reply) commits or rolls back with
// it. It may be nil.
type Commit func(ctx context.Context, tx bun.IDB, r Redemption) error

// Redeem evaluates the request and, when it is valid, redeems every applicable
// redeemable in one transaction whose guards enforce every limit. A request that is
// not valid, or whose guards do not hold, writes nothing but its audit record and
// returns a 400 problem naming the keys.
//
// On PostgreSQL the evaluation reads inside the redemption's transaction, which
// saves a transaction's round trips, and the writes go with the COMMIT in one
// round trip (db.WriteLast) whose guards come last, so the hot rows are locked
// only from them to the commit. SQLite takes its single write lock at BEGIN, so
// there the evaluation reads in a read transaction of its own first. A gift card
// another redemption moved in between is caught before the writes, and the
// request evaluated again with the card locked (redeem), so the credits taken
// and the balance reported are exact.
func (e *Engine) Redeem(ctx context.Context, t Tenant, req Request, commit Commit) (Redemption, error) {
	ctx, span := e.tracer.Start(ctx, "redemption.Redeem", trace.WithAttributes(telemetry.TenantAttr(t.ID)))
	defer span.End()
	var (
		res Result
		r   Redemption
		err error
	)
	res, r, err = e.redeem(ctx, t, req, commit)
	if errors.Is(err, errGiftMoved) {
		busy := problem.Conflict("gift_card_busy", "a gift card of this request is being redeemed by other requests; try again")
		busy.Transient = true
		err = busy
	}
	err = explain(ctx, e.db, t.ID, err)
	if errors.Is(err, errNotValid) {
		span.SetAttributes(attribute.String("redemption.result", "rejected"))
		return Redemption{Result: res}, e.refused(ctx, t, res, rejected(res))
	}
	var ref *refusal
	if errors.As(err, &ref) {
		span.SetAttributes(attribute.String("redemption.result", "refused"), attribute.String("redemption.key", ref.Key))
		for i := range res.Outcomes {
			if o := &res.Outcomes[i]; o.Ref.ID == ref.Code {
				o.Status, o.Reason = StatusInapplicable, reasonOf(ref)
			}
		}
		return Redemption{Result: res}, e.refused(ctx, t, res, rejected(res))
	}
	if err != nil {
		span.SetStatus(codes.Error, "redeem failed")
		return Redemption{}, err
	}
	span.SetAttributes(attribute.String("redemption.result", "succeeded"), attribute.Int("redemption.children", len(r.Children)))
	return r, nil
}

// errNotValid ends a redemption whose evaluation is not valid before it writes.
var errNotValid = errors.New("redemption not valid")

// errGiftMoved: a gift card changed between the evaluation's read and its
// lock, twice (see redeem).
var errGiftMoved = errors.New("gift card changed since it was read")

// redeem evaluates and stores a redemption. On PostgreSQL the evaluation reads
// in the redemption's transaction; on SQLite in a read transaction of its own
// first. Either way, the gift cards it takes credits from are read again in the
// redemption's transaction before anything is written (confirmGifts); when
// another redemption moved one in between, the request is evaluated again
// there, where the cards now stay as read.
func (e *Engine) redeem(ctx context.Context, t Tenant, req Request, commit Commit) (res Result, r Redemption, err error) {
	// The evaluation completes the order (amounts, free items): each one starts
	// from the request's own.
	fresh := func() *Request {
		cp := req
		if req.Order != nil {
			o := *req.Order
			o.Items = slices.Clone(o.Items)
			cp.Order = &o
		}
		return &cp
	}
	cur := fresh()
	write := func(ctx context.Context, tx bun.Tx) error {
		err := e.confirmGifts(ctx, tx, t.ID, res)
		if errors.Is(err, errGiftMoved) {
			cur = fresh()
			if res, err = e.evaluate(ctx, t, cur, tx); err != nil {
				return err
			}
			if !res.Valid {
				return errNotValid
			}
			err = e.confirmGifts(ctx, tx, t.ID, res)
		}
		if err != nil {
			return err
		}
		r, err = e.store(ctx, tx, t, cur, res, commit)
		return err
	}
	if e.db.Dialect() == db.Postgres {
		// The tenant's policy versions are loaded (once per node) before the
		// transaction holds a connection: loading takes one of its own.
		if _, _, err := e.customized(ctx, t.ID); err != nil {
			return res, r, err
		}
		err = e.db.InTx(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
			var err error
			if res, err = e.evaluate(ctx, t, cur, tx); err != nil {
				return err
			}
			if !res.Valid {
				return errNotValid
			}
			return write(ctx, tx)
		})
		return res, r, err
	}
	res, err = e.evaluate(ctx, t, cur, nil)
	if err == nil && !res.Valid {
		err = errNotValid
	}
	if err == nil {
		err = e.db.InTx(ctx, t.ID, write)
	}
	return res, r, err
}

// confirmGifts reads again in tx, locked on PostgreSQL (SQLite's writer lock
// already serialises), the vouchers of a request that takes gift credits. When
// another redemption changed one of its gift cards since the evaluation read
// it, the credits taken and the balance the reply reports would be stale:
// errGiftMoved. A gift card is rarely redeemed concurrently, so this costs a
// round trip and little waiting; a request without gift credits reads nothing
// more, so a multi-use discount code, redeemed concurrently by design, is
// locked early only when it shares a request with a gift card.
func (e *Engine) confirmGifts(ctx context.Context, tx bun.IDB, tenantID string, res Result) error {
	gifts := map[string]campaigns.Voucher{}
	var ids []string
	for _, o := range res.Outcomes {
		if o.Status == StatusApplicable && o.Voucher != nil {
			ids = append(ids, o.Voucher.ID)
			if o.Applied.GiftCredits > 0 {
				gifts[o.Voucher.ID] = *o.Voucher
			}
		}
	}
	if len(gifts) == 0 {
		return nil
	}
	// Every voucher of the request is locked, in id order, as the guards and a
	// rollback lock them: locking the gift cards alone, first, could deadlock
	// with a rollback holding another of the request's vouchers.
	var now []campaigns.Voucher
	q := tx.NewSelect().Model(&now).Column("v.id", "v.gift_balance", "v.redeemed_quantity").
		Where("v.tenant_id = ?", tenantID).Where("v.id IN (?)", bun.List(ids)).OrderExpr("v.id")
	if e.db.Dialect() == db.Postgres {
		q = q.For("UPDATE OF v")
	}
	if err := q.Scan(ctx); err != nil {
		return fmt.Errorf("confirm gift cards: %w", err)
	}
	for _, v := range now {
		if was, ok := gifts[v.ID]; ok && (v.GiftBalance != was.GiftBalance || v.RedeemedQuantity != was.RedeemedQuantity) {
			return errGiftMoved
		}
	}
	return nil
}

// store writes a valid evaluation's redemption as tx's last work: the customer
// a new source_id names (customers.Ensure) or the customer data the request
// changes (customers.Amend), its records, audit event and outbox event, then the
// guards of its claims.
func (e *Engine) store(ctx context.Context, tx bun.Tx, t Tenant, req *Request, res Result, commit Commit) (Redemption, error) {
	now := e.now().UTC().Truncate(time.Microsecond)
	customerID := ""
	if c := res.Customer; c != nil {
		// A new customer, named by source_id, is created; a known one gets
		// the request's data when it changes the customer.
		if c.ID == "" || len(res.customerChanges) > 0 {
			saved, err := e.saveCustomer(ctx, tx, t.ID, c.ID, req.Customer, now)
			switch {
			case db.IsNotFound(err) && c.ID != "":
				// Erased since the evaluation read it: nothing to amend. The
				// redemption stands as evaluated, as it would without the data.
			case err != nil:
				return Redemption{}, err
			default:
				res.Customer = &saved
			}
		}
		customerID = res.Customer.ID
	}
	r := Redemption{Result: res}
	orderData, err := json.Marshal(StoredOrder{Order: res.Order, Totals: res.Totals, ItemDiscounts: res.ItemDiscounts()})
	if err != nil {
		return Redemption{}, err
	}
	r.Parent = Record{
		TenantID: t.ID, ID: ids.New(idRedemption), Kind: "redemption", Status: Succeeded, CustomerID: customerID,
		OrderID: res.Order.ID, OrderData: orderData, Amount: res.Order.Amount, DiscountAmount: res.Totals.TotalDiscountAmount,
		Channel: res.Channel, LocalDate: res.Local.Date, Metadata: req.Metadata, ActorID: audit.ActorFrom(ctx).ID, CreatedAt: now,
	}
	var claims []claim
	for _, o := range res.Outcomes {
		if o.Status != StatusApplicable {
			continue
		}
		cl := claim{Code: o.Ref.ID, Discount: o.Applied.Total() - o.Applied.GiftCredits,
			GiftCredits: o.Applied.GiftCredits, OrderAmount: res.Order.Amount}
		child := Record{TenantID: t.ID, ID: ids.New(idRedemption), ParentID: r.Parent.ID, Kind: "redemption", Status: Succeeded,
			CustomerID: customerID, OrderID: res.Order.ID, Amount: res.Order.Amount, Channel: res.Channel, LocalDate: res.Local.Date,
			ActorID: r.Parent.ActorID, CreatedAt: now}
		if o.Voucher != nil {
			cl.VoucherID = o.Voucher.ID
			child.VoucherID, child.VoucherCode = o.Voucher.ID, o.Voucher.Code
		}
		if o.Tier != nil {
			child.TierID = o.Tier.ID
		}
		if o.Campaign != nil {
			cl.CampaignID, cl.Limits = o.Campaign.ID, o.Campaign.Limits
		}
		child.CampaignID, child.DiscountAmount, child.GiftCredits = cl.CampaignID, cl.Discount, cl.GiftCredits
		claims = append(claims, cl)
		r.Children = append(r.Children, child)
	}
	// The rows, the audit and outbox events and the guards go in one batch, after
	// the idempotent reply; on PostgreSQL the batch carries the COMMIT, so the
	// hot rows its guards lock (a popular campaign, a shared code) are held for
	// the rest of one round trip only.
	if commit != nil {
		if err := commit(ctx, tx, r); err != nil {
			return Redemption{}, err
		}
	}
	summary := map[string]any{"redemptions": len(r.Children), "discount_amount": res.Totals.TotalDiscountAmount, "vouchers": voucherIDs(r.Children)}
	b, err := e.records(ctx, tx, t.ID, append([]Record{r.Parent}, r.Children...), "redemption.succeeded", r.Parent.ID, summary, now)
	if err != nil {
		return Redemption{}, err
	}
	if err := write(ctx, e.db, tx, b, addGuards(b, t.ID, customerID, res.Local.Date, claims, now)); err != nil {
		return Redemption{}, err
	}
	return r, nil
}

// records begins the batch that stores rows: the records, and the audit event
// and outbox event of action on redemption id, both carrying summary. Outbox
// payloads hold ids and amounts, never personal data.
func (e *Engine) records(ctx context.Context, tx bun.IDB, tenantID string, rows []Record, action, id string, summary map[string]any, now time.Time) (*db.Batch, error) {
	b := &db.Batch{}
	b.Insert(tx.NewInsert().Model(&rows))
	if _, err := e.audit.Add(ctx, tx, b, tenantID, audit.Entry{Action: action, ResourceType: "redemption", ResourceID: id, After: summary}); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(map[string]any{"type": action, "id": id, "data": summary, "created_at": now})
	if err != nil {
		return nil, err
	}
	b.Insert(tx.NewInsert().Model(&outboxEvent{TenantID: tenantID, ID: ids.New(idEvent), Type: action, Payload: payload, CreatedAt: now}))
	return b, nil
}

// refused records a refused redemption in the audit log and returns its problem.
// A refusal that is the customer's doing counts in the fraud policy's
// failed_validations_last_10m, as a failed validation does (customersFailure).
func (e *Engine) refused(ctx context.Context, t Tenant, res Result, perr error) error {
	if res.customersFailure() {
		e.velocity.refused(velocityKey(t.ID, res.Customer), e.now())
	}
	keys := []string{}
	for _, o := range res.Outcomes {
		if o.Reason != nil {
			keys = append(keys, o.Reason.Code)
		}
	}
	if err := e.audit.RecordAlone(ctx, t.ID, audit.Entry{Action: "redemption.failed", ResourceType: "redemption", Outcome: audit.OutcomeFailure,
		After: map[string]any{"keys": keys}}); err != nil {
		return err
	}
	return perr
}

// RollbackRequest is what a rollback states about itself: why, and metadata of
// the caller's kept on every rollback record.
type RollbackRequest struct {
	Reason   string
	Metadata map[string]any
	// Customer, when it carries customer data, is amended with it (created,
	// for a new source_id), as Voucherify's rollback does.
	Customer *CustomerRef
}

// Rollback reverses a successful redemption: every child's counters, voucher uses
// and gift credits come back under the mirror guards, and the redemption is marked
// rolled back, so a second rollback is refused rather than giving back twice.
func (e *Engine) Rollback(ctx context.Context, t Tenant, parentID string, req RollbackRequest, commit Commit) (Redemption, error) {
	reason := req.Reason
	ctx, span := e.tracer.Start(ctx, "redemption.Rollback", trace.WithAttributes(telemetry.TenantAttr(t.ID)))
	defer span.End()
	now := e.now().UTC().Truncate(time.Microsecond)
	if err := checkCustomer(&req.Customer, now); err != nil {
		return Redemption{}, err
	}
	var out Redemption
	err := e.db.InTx(ctx, t.ID, func(ctx context.Context, tx bun.Tx) error {
		var parent Record
		err := tx.NewSelect().Model(&parent).Where("rd.tenant_id = ? AND rd.id = ? AND rd.kind = 'redemption'", t.ID, parentID).Scan(ctx)
		if db.IsNotFound(err) {
			return problem.NotFound("redemption", parentID)
		}
		if err != nil {
			return fmt.Errorf("load redemption: %w", err)
		}
		if parent.ParentID != "" {
			return &problem.Error{Kind: problem.KindInvalid, Key: "invalid_redemption_parent", Message: "Not a parent redemption", Field: "parent_id",
				Details: fmt.Sprintf("%s is a child redemption; roll back its parent %s (Punchcard rolls back a redemption whole)", parentID, parent.ParentID)}
		}
		if parent.Status != Succeeded {
			return &problem.Error{Kind: problem.KindInvalid, Key: "already_rolled_back", Message: "Already rolled back",
				Details: fmt.Sprintf("redemption %s is %s", parentID, parent.Status), Field: "parent_id"}
		}
		var children []Record
		if err := tx.NewSelect().Model(&children).Where("rd.tenant_id = ? AND rd.parent_id = ? AND rd.kind = 'redemption'", t.ID, parentID).
			OrderExpr("rd.id").Scan(ctx); err != nil {
			return fmt.Errorf("load child redemptions: %w", err)
		}
		limits, err := campaignLimits(ctx, tx, t.ID, children)
		if err != nil {
			return err
		}
		claims := make([]claim, len(children))
		for i, c := range children {
			claims[i] = claim{VoucherID: c.VoucherID, Code: c.redeemable(), CampaignID: c.CampaignID, Limits: limits[c.CampaignID],
				Discount: c.DiscountAmount, GiftCredits: c.GiftCredits, OrderAmount: c.Amount}
		}
		// Mark first: of two concurrent rollbacks only one changes the status.
		res, err := tx.NewUpdate().Model((*Record)(nil)).Set("status = ?", RolledBack).
			Where("tenant_id = ? AND (id = ? OR parent_id = ?) AND kind = 'redemption' AND status = ?", t.ID, parentID, parentID, Succeeded).Exec(ctx)
		if err != nil {
			return fmt.Errorf("mark rolled back: %w", err)
		}
		if n, _ := res.RowsAffected(); n != int64(len(children)+1) {
			return &problem.Error{Kind: problem.KindConflict, Key: "already_rolled_back", Message: "Already rolled back",
				Details: fmt.Sprintf("redemption %s was rolled back by another request", parentID), Field: "parent_id"}
		}
		if c := req.Customer; c != nil && !c.Profile.Empty() {
			_, err := e.saveCustomer(ctx, tx, t.ID, c.ID, c, now)
			if db.IsNotFound(err) {
				return problem.NotFound("customer", c.ID)
			}
			if err != nil {
				return err
			}
		}
		rb := Record{TenantID: t.ID, ID: ids.New(idRollback), Kind: "rollback", RedemptionID: parent.ID, Status: Succeeded,
			CustomerID: parent.CustomerID, OrderID: parent.OrderID, Amount: parent.Amount, DiscountAmount: parent.DiscountAmount,
			Channel: parent.Channel, LocalDate: parent.LocalDate, Reason: reason, Metadata: req.Metadata, ActorID: audit.ActorFrom(ctx).ID, CreatedAt: now,
			OrderData: parent.OrderData} // the order rolled back, for the reply and the record
		rows := []Record{rb}
		for _, c := range children {
			rows = append(rows, Record{TenantID: t.ID, ID: ids.New(idRollback), ParentID: rb.ID, Kind: "rollback", RedemptionID: c.ID,
				Status: Succeeded, CustomerID: c.CustomerID, VoucherID: c.VoucherID, VoucherCode: c.VoucherCode, TierID: c.TierID, CampaignID: c.CampaignID,
				OrderID: c.OrderID, Amount: c.Amount, DiscountAmount: c.DiscountAmount, GiftCredits: c.GiftCredits,
				Channel: c.Channel, LocalDate: c.LocalDate, Reason: reason, Metadata: req.Metadata, ActorID: rb.ActorID, CreatedAt: now})
		}
		out = Redemption{Parent: rows[0], Children: rows[1:]}
		if commit != nil {
			if err := commit(ctx, tx, out); err != nil {
				return err
			}
		}
		// One batch, the guards last, as in Redeem.
		summary := map[string]any{"redemption_id": parent.ID, "rollbacks": len(children), "discount_amount": parent.DiscountAmount}
		b, err := e.records(ctx, tx, t.ID, rows, "redemption.rolled_back", parent.ID, summary, now)
		if err != nil {
			return err
		}
		return write(ctx, e.db, tx, b, addReturns(b, t.ID, parent.CustomerID, parent.LocalDate, claims, now))
	})
	err = explain(ctx, e.db, t.ID, err)
	if err != nil {
		return Redemption{}, err
	}
	return out, nil
}

// saveCustomer gives the customer id names the data ref carries (Amend), or,
// when id is "", creates the customer ref's source_id names with it (Ensure:
// one created meanwhile is amended). An unknown id is not found (db.IsNotFound).
func (e *Engine) saveCustomer(ctx context.Context, tx bun.Tx, tenantID, id string, ref *CustomerRef, now time.Time) (customers.Customer, error) {
	if id == "" {
		c, _, err := customers.Ensure(ctx, tx, e.audit, tenantID, ref.SourceID, ref.profile, now)
		return c, err
	}
	return customers.Amend(ctx, tx, e.audit, tenantID, id, ref.profile, now)
}

func campaignLimits(ctx context.Context, tx bun.IDB, tenantID string, children []Record) (map[string]campaigns.Limits, error) {
	out := map[string]campaigns.Limits{}
	var ids []string
	for _, c := range children {
		if c.CampaignID != "" {
			ids = append(ids, c.CampaignID)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var cs []campaigns.Campaign
	if err := tx.NewSelect().Model(&cs).Where("cp.tenant_id = ?", tenantID).Where("cp.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("load campaigns: %w", err)
	}
	for _, c := range cs {
		out[c.ID] = c.Limits
	}
	return out, nil
}

func voucherIDs(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		_, out[i] = r.Related()
	}
	return out
}

// EraseCustomerData scrubs the personal data a customer's redemptions and
// rollbacks keep (a customers.Eraser, run by a GDPR erasure): the request's
// metadata, a rollback's reason, and the metadata of the stored order and its
// items. Amounts, ids and the opaque customer id stay, for the counters, the
// reports and the audit trail.
func EraseCustomerData(ctx context.Context, tx bun.Tx, tenantID, customerID string) (int64, error) {
	var rows []Record
	if err := tx.NewSelect().Model(&rows).Column("id", "order_data").
		Where("rd.tenant_id = ? AND rd.customer_id = ?", tenantID, customerID).Scan(ctx); err != nil {
		return 0, fmt.Errorf("read the customer's redemptions: %w", err)
	}
	for _, r := range rows {
		q := tx.NewUpdate().Model((*Record)(nil)).Set("metadata = NULL").Set("reason = NULL")
		if o, ok := r.Order(); ok {
			o.Order.Metadata = nil
			for i := range o.Order.Items {
				o.Order.Items[i].Metadata = nil
			}
			b, err := json.Marshal(o)
			if err != nil {
				return 0, err
			}
			q = q.Set("order_data = ?", string(b))
		}
		if _, err := q.Where("tenant_id = ? AND id = ?", tenantID, r.ID).Exec(ctx); err != nil {
			return 0, fmt.Errorf("scrub redemption %s: %w", r.ID, err)
		}
	}
	return int64(len(rows)), nil
}
