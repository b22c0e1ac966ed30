package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/idempotency"
	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/redemption"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

var (
	redeemRoles   = []tenants.Role{tenants.RoleMarketer, tenants.RoleDeveloper, tenants.RoleSupport, tenants.RolePOS}
	settingsRoles = []tenants.Role{tenants.RoleMarketer, tenants.RoleDeveloper}
	// redeemReadRoles read redemptions: the auditor too (reports).
	redeemReadRoles = []tenants.Role{tenants.RoleMarketer, tenants.RoleDeveloper, tenants.RoleSupport, tenants.RolePOS, tenants.RoleAuditor}
)

// orderBody is Voucherify's OrderCalculated: the order with its totals.
type orderBody struct {
	ID                         string          `json:"id,omitempty"`
	SourceID                   string          `json:"source_id,omitempty"`
	Amount                     int64           `json:"amount"`
	InitialAmount              int64           `json:"initial_amount"`
	DiscountAmount             int64           `json:"discount_amount"`
	ItemsDiscountAmount        int64           `json:"items_discount_amount"`
	TotalDiscountAmount        int64           `json:"total_discount_amount"`
	TotalAmount                int64           `json:"total_amount"`
	AppliedDiscountAmount      int64           `json:"applied_discount_amount"`
	ItemsAppliedDiscountAmount int64           `json:"items_applied_discount_amount"`
	TotalAppliedDiscountAmount int64           `json:"total_applied_discount_amount"`
	Items                      []orderItemBody `json:"items,omitempty"`
	Metadata                   map[string]any  `json:"metadata"`
	CustomerID                 *string         `json:"customer_id" jsonschema:"nullable"`
	Object                     string          `json:"object" jsonschema:"enum=order"`
}

type orderItemBody struct {
	SKUID          string         `json:"sku_id,omitempty"`
	ProductID      string         `json:"product_id,omitempty"`
	SourceID       string         `json:"source_id,omitempty"`
	Quantity       int64          `json:"quantity"`
	Price          int64          `json:"price"`
	Amount         int64          `json:"amount"`
	DiscountAmount int64          `json:"discount_amount"`
	SubtotalAmount int64          `json:"subtotal_amount"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	Object         string         `json:"object" jsonschema:"enum=order_item"`
}

func toOrderBody(res redemption.Result) orderBody {
	customerID := ""
	if res.Customer != nil {
		customerID = res.Customer.ID
	}
	return orderBodyOf(res.Order, res.Totals, res.ItemDiscounts(), customerID)
}

// orderBodyOf is Voucherify's calculated order: o with totals t, itemDisc off
// each item (by index) and the customer's id when known.
func orderBodyOf(o redemption.Order, t redemption.Totals, itemDisc []int64, customerID string) orderBody {
	b := orderBody{ID: o.ID, SourceID: o.SourceID, Amount: t.Amount, InitialAmount: t.Amount, DiscountAmount: t.DiscountAmount,
		ItemsDiscountAmount: t.ItemsDiscountAmount, TotalDiscountAmount: t.TotalDiscountAmount, TotalAmount: t.TotalAmount,
		AppliedDiscountAmount: t.AppliedDiscountAmount, ItemsAppliedDiscountAmount: t.ItemsAppliedDiscountAmount,
		TotalAppliedDiscountAmount: t.TotalAppliedDiscountAmount, Metadata: o.Metadata, Object: "order"}
	if b.Metadata == nil {
		b.Metadata = map[string]any{}
	}
	if customerID != "" {
		b.CustomerID = &customerID
	}
	for i, it := range o.Items {
		var disc int64
		if i < len(itemDisc) {
			disc = itemDisc[i]
		}
		b.Items = append(b.Items, orderItemBody{SKUID: it.SKUID, ProductID: it.ProductID, SourceID: it.SourceID, Quantity: it.Quantity,
			Price: it.Price, Amount: it.Amount, DiscountAmount: disc, SubtotalAmount: it.Amount - disc, Metadata: it.Metadata, Object: "order_item"})
	}
	return b
}

// redeemableBody is one redeemable of a validation: APPLICABLE with its result,
// INAPPLICABLE or SKIPPED with the error key, message and the rule that decided.
type redeemableBody struct {
	Status       string           `json:"status" jsonschema:"enum=APPLICABLE,enum=INAPPLICABLE,enum=SKIPPED"`
	ID           string           `json:"id"`
	Object       string           `json:"object" jsonschema:"enum=voucher,enum=promotion_tier"`
	Result       redeemableResult `json:"result"`
	Metadata     map[string]any   `json:"metadata,omitempty"`
	CampaignName string           `json:"campaign_name,omitempty"`
	CampaignID   string           `json:"campaign_id,omitempty"`
	Name         string           `json:"name,omitempty" jsonschema:"description=a promotion tier's name"`
	Order        *orderBody       `json:"order,omitempty" jsonschema:"description=an applicable redeemable's view of the order: the request's totals with its own applied amounts"`
}

// redeemableOrder is the order as one applicable redeemable sees it, as
// Voucherify shows it on the redeemable: the request's order and totals, with
// the applied amounts of that redeemable alone, so that they add up over the
// redeemables to the order's.
func redeemableOrder(order orderBody, o redemption.Outcome) *orderBody {
	var items int64
	for _, d := range o.Applied.ItemDiscounts {
		items += d.Amount
	}
	order.AppliedDiscountAmount = o.Applied.OrderDiscount + o.Applied.GiftCredits
	order.ItemsAppliedDiscountAmount = items
	order.TotalAppliedDiscountAmount = order.AppliedDiscountAmount + items
	return &order
}

type redeemableResult struct {
	Discount *campaigns.Discount `json:"discount,omitempty"`
	Gift     *giftCreditsBody    `json:"gift,omitempty"`
	Error    *redeemableError    `json:"error,omitempty"`
	Details  *redeemableDetails  `json:"details,omitempty"`
}

type giftCreditsBody struct {
	Credits int64 `json:"credits"`
	Balance int64 `json:"balance"`
}

// redeemableError is Voucherify's error object plus the policy rule that denied.
type redeemableError struct {
	Code    int    `json:"code"`
	Key     string `json:"key"`
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
	Rule    string `json:"rule,omitempty" jsonschema:"description=the policy rule that decided, e.g. rules.min_order_amount"`
}

type redeemableDetails struct {
	Key     string `json:"key"`
	Message string `json:"message"`
	Rule    string `json:"rule,omitempty"`
}

type validationBody struct {
	ID                      string                   `json:"id"`
	Valid                   bool                     `json:"valid"`
	Redeemables             []redeemableBody         `json:"redeemables"`
	SkippedRedeemables      []redeemableBody         `json:"skipped_redeemables"`
	InapplicableRedeemables []redeemableBody         `json:"inapplicable_redeemables"`
	Order                   orderBody                `json:"order"`
	StackingRules           redemption.StackingRules `json:"stacking_rules"`
}

// toRedeemableBodies are the redeemables of a result: in all, every one, or
// under PARTIAL application only the applicable ones (as Voucherify lists them);
// and those skipped and those inapplicable.
func toRedeemableBodies(res redemption.Result, order orderBody) (all, skipped, inapplicable []redeemableBody) {
	all, skipped, inapplicable = []redeemableBody{}, []redeemableBody{}, []redeemableBody{}
	partial := res.Stacking.RedeemablesApplicationMode == "PARTIAL"
	for _, o := range res.Outcomes {
		b := redeemableBody{Status: o.Status, ID: o.Ref.ID, Object: o.Ref.Object}
		if o.Campaign != nil {
			b.CampaignName, b.CampaignID = o.Campaign.Name, o.Campaign.ID
		}
		b.Metadata = metadataOf(o)
		if o.Tier != nil {
			b.Name = o.Tier.Name
		}
		switch o.Status {
		case redemption.StatusApplicable:
			b.Result = applicableResult(o)
			b.Order = redeemableOrder(order, o)
		case redemption.StatusInapplicable:
			b.Result.Error = &redeemableError{Code: http.StatusBadRequest, Key: o.Reason.Code, Message: o.Reason.Message, Rule: o.Reason.Rule}
			inapplicable = append(inapplicable, b)
		case redemption.StatusSkipped:
			b.Result.Details = &redeemableDetails{Key: o.Reason.Code, Message: o.Reason.Message, Rule: o.Reason.Rule}
			skipped = append(skipped, b)
		}
		if !partial || o.Status == redemption.StatusApplicable {
			all = append(all, b)
		}
	}
	return all, skipped, inapplicable
}

// applicableResult is what an applicable redeemable grants: gift card credits or
// its discount.
func applicableResult(o redemption.Outcome) redeemableResult {
	if o.Voucher != nil && o.Voucher.Type == campaigns.VoucherGift {
		return redeemableResult{Gift: &giftCreditsBody{Credits: o.Applied.GiftCredits, Balance: o.Voucher.GiftBalance}}
	}
	return redeemableResult{Discount: o.Discount()}
}

// metadataOf is the metadata of the redeemable's voucher or tier.
func metadataOf(o redemption.Outcome) map[string]any {
	switch {
	case o.Voucher != nil:
		return o.Voucher.Metadata
	case o.Tier != nil:
		return o.Tier.Metadata
	}
	return nil
}

func tenantOf(c *gin.Context) redemption.Tenant {
	t := principal(c).Tenant
	return redemption.Tenant{ID: t.ID, Slug: t.Slug, Currency: t.Currency, Timezone: t.Timezone}
}

func withClient(c *gin.Context) context.Context {
	return telemetry.WithClient(c.Request.Context(), c.ClientIP(), c.Request.UserAgent())
}

func (s *Server) validate(c *gin.Context) error {
	var req redemption.Request
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	res, err := s.Redemptions.Validate(withClient(c), tenantOf(c), req)
	if err != nil {
		return err
	}
	order := toOrderBody(res)
	all, skipped, inapplicable := toRedeemableBodies(res, order)
	c.JSON(http.StatusOK, validationBody{ID: "valid_" + telemetry.RequestID(c.Request.Context()), Valid: res.Valid, Redeemables: all,
		SkippedRedeemables: skipped, InapplicableRedeemables: inapplicable, Order: order, StackingRules: res.Stacking})
	return nil
}

// redemptionBody is Voucherify's redemption object (parent or child).
type redemptionBody struct {
	ID                string           `json:"id"`
	Object            string           `json:"object" jsonschema:"enum=redemption"`
	Date              time.Time        `json:"date"`
	CustomerID        *string          `json:"customer_id" jsonschema:"nullable"`
	TrackingID        *string          `json:"tracking_id" jsonschema:"nullable"`
	Metadata          map[string]any   `json:"metadata"`
	Amount            int64            `json:"amount"`
	Redemption        *string          `json:"redemption" jsonschema:"nullable,description=the parent redemption's id"`
	Result            string           `json:"result" jsonschema:"enum=SUCCESS,enum=FAILURE"`
	Status            string           `json:"status" jsonschema:"enum=SUCCEEDED,enum=FAILED,enum=ROLLED_BACK"`
	Order             *orderBody       `json:"order" jsonschema:"nullable"`
	Channel           channelBody      `json:"channel"`
	Customer          *simpleCustomer  `json:"customer" jsonschema:"nullable"`
	RelatedObjectType string           `json:"related_object_type" jsonschema:"enum=voucher,enum=promotion_tier,enum=redemption"`
	RelatedObjectID   string           `json:"related_object_id"`
	Voucher           *voucherResponse `json:"voucher,omitempty"`
	Gift              *giftAmountBody  `json:"gift,omitempty"`
	DiscountAmount    int64            `json:"discount_amount" jsonschema:"description=Punchcard: what this redemption took off the order"`
}

type giftAmountBody struct {
	Amount int64 `json:"amount"`
}

type channelBody struct {
	ChannelID   string `json:"channel_id"`
	ChannelType string `json:"channel_type" jsonschema:"enum=API"`
}

type simpleCustomer struct {
	ID       string `json:"id"`
	SourceID string `json:"source_id,omitempty"`
	Object   string `json:"object" jsonschema:"enum=customer"`
}

type redeemBody struct {
	Redemptions             []redemptionBody `json:"redemptions"`
	ParentRedemption        redemptionBody   `json:"parent_redemption"`
	Order                   orderBody        `json:"order"`
	InapplicableRedeemables []redeemableBody `json:"inapplicable_redeemables" jsonschema:"description=under PARTIAL application, the redeemables that did not apply"`
	SkippedRedeemables      []redeemableBody `json:"skipped_redeemables" jsonschema:"description=under PARTIAL application, the redeemables the stacking rules skipped"`
}

// rollbackBody is Voucherify's rollback redemption object.
type rollbackBody struct {
	ID                string          `json:"id"`
	Object            string          `json:"object" jsonschema:"enum=redemption_rollback"`
	Date              time.Time       `json:"date"`
	CustomerID        *string         `json:"customer_id" jsonschema:"nullable"`
	TrackingID        *string         `json:"tracking_id" jsonschema:"nullable"`
	Metadata          map[string]any  `json:"metadata"`
	Amount            int64           `json:"amount"`
	Redemption        *string         `json:"redemption" jsonschema:"nullable,description=the redemption rolled back"`
	Reason            string          `json:"reason,omitempty"`
	Result            string          `json:"result" jsonschema:"enum=SUCCESS"`
	Status            string          `json:"status" jsonschema:"enum=SUCCEEDED"`
	Order             *orderBody      `json:"order" jsonschema:"nullable"`
	Channel           channelBody     `json:"channel"`
	Customer          *simpleCustomer `json:"customer" jsonschema:"nullable"`
	RelatedObjectType string          `json:"related_object_type" jsonschema:"enum=voucher,enum=redemption"`
	RelatedObjectID   string          `json:"related_object_id"`
	Gift              *giftAmountBody `json:"gift,omitempty"`
}

type rollbacksBody struct {
	Rollbacks      []rollbackBody `json:"rollbacks"`
	ParentRollback rollbackBody   `json:"parent_rollback"`
	Order          *orderBody     `json:"order,omitempty" jsonschema:"description=the order the rolled back redemption was for"`
}

// recordAmount is a record's amount as Voucherify shows it: a gift card's
// redemption, the credits it took; any other redemption, the order amount; a
// rollback, what its redemption showed, negative, so that a redemption and its
// rollback sum to zero.
func recordAmount(rec redemption.Record) int64 {
	amount := rec.Amount
	if rec.GiftCredits > 0 && rec.ParentID != "" {
		amount = rec.GiftCredits
	}
	if rec.Kind == "rollback" {
		return -amount
	}
	return amount
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toRedeemBody(r redemption.Redemption) redeemBody {
	order := toOrderBody(r.Result)
	base := func(rec redemption.Record) redemptionBody {
		b := redemptionBody{ID: rec.ID, Object: "redemption", Date: rec.CreatedAt.UTC(), CustomerID: optionalString(rec.CustomerID),
			Metadata: rec.Metadata, Amount: recordAmount(rec), Result: "SUCCESS", Status: rec.Status, Order: &order,
			Channel: channelBody{ChannelID: rec.ActorID, ChannelType: "API"}, DiscountAmount: rec.DiscountAmount}
		b.RelatedObjectType, b.RelatedObjectID = rec.Related()
		if b.Metadata == nil {
			b.Metadata = map[string]any{}
		}
		if r.Result.Customer != nil {
			b.Customer = &simpleCustomer{ID: r.Result.Customer.ID, SourceID: r.Result.Customer.SourceID, Object: "customer"}
		}
		return b
	}
	_, skipped, inapplicable := toRedeemableBodies(r.Result, order)
	out := redeemBody{ParentRedemption: base(r.Parent), Order: order, Redemptions: []redemptionBody{},
		InapplicableRedeemables: inapplicable, SkippedRedeemables: skipped}
	for _, ch := range r.Children {
		b := base(ch)
		b.Redemption = &r.Parent.ID
		// The applicable redeemable the child redeemed.
		for _, o := range r.Result.Outcomes {
			voucher := o.Voucher != nil && o.Voucher.ID == ch.VoucherID
			if o.Status != redemption.StatusApplicable || !(voucher || (o.Tier != nil && o.Tier.ID == ch.TierID)) {
				continue
			}
			b.Order = redeemableOrder(order, o)
			if voucher {
				name := ""
				if o.Campaign != nil {
					name = o.Campaign.Name
				}
				v := *o.Voucher
				v.RedeemedQuantity++
				v.GiftBalance -= ch.GiftCredits
				vr := toVoucherResponse(v, name)
				b.Voucher = &vr
			}
			break
		}
		if ch.GiftCredits > 0 {
			b.Gift = &giftAmountBody{Amount: ch.GiftCredits}
		}
		out.Redemptions = append(out.Redemptions, b)
	}
	return out
}

func toRollbacksBody(r redemption.Redemption) rollbacksBody {
	one := func(rec redemption.Record) rollbackBody {
		typ, id := rec.Related()
		b := rollbackBody{ID: rec.ID, Object: "redemption_rollback", Date: rec.CreatedAt.UTC(), CustomerID: optionalString(rec.CustomerID),
			Metadata: rec.Metadata, Amount: recordAmount(rec), Redemption: optionalString(rec.RedemptionID), Reason: rec.Reason,
			Result: "SUCCESS", Status: "SUCCEEDED", Channel: channelBody{ChannelID: rec.ActorID, ChannelType: "API"},
			RelatedObjectType: typ, RelatedObjectID: id}
		if b.Metadata == nil {
			b.Metadata = map[string]any{}
		}
		if rec.CustomerID != "" {
			b.Customer = &simpleCustomer{ID: rec.CustomerID, Object: "customer"}
		}
		if rec.GiftCredits > 0 {
			b.Gift = &giftAmountBody{Amount: -rec.GiftCredits}
		}
		b.Order = storedOrderBody(rec)
		return b
	}
	out := rollbacksBody{ParentRollback: one(r.Parent), Rollbacks: []rollbackBody{}}
	out.Order = out.ParentRollback.Order
	for _, ch := range r.Children {
		out.Rollbacks = append(out.Rollbacks, one(ch))
	}
	return out
}

// idempotent runs a value-moving handler under the request's Idempotency-Key, when
// it has one: a repeat gets the stored reply; the first run's reply is stored by
// the service in its own transaction (through the Commit hook) or, for a
// refusal, alone (see idempotentAfterCommit for services without the hook: a
// crash between their commit and the reply's leaves the key to be taken over
// once its lock lapses, and the request runs again). A transient refusal (problem.Error.Transient: a busy
// gift card, a policy out of time) and any other failure release the key, so a
// retry runs again.
func (s *Server) idempotent(h func(c *gin.Context, ticket *idempotency.Ticket) (int, any, error)) handlerFunc {
	return func(c *gin.Context) error {
		key := c.GetHeader("Idempotency-Key")
		if key == "" {
			status, body, err := h(c, nil)
			if err != nil {
				return err
			}
			c.JSON(status, body)
			return nil
		}
		raw, err := io.ReadAll(c.Request.Body)
		if err != nil {
			return jsonError(err)
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(raw))
		c.Request.ContentLength = int64(len(raw))
		ticket, reply, err := s.Idempotency.Begin(c.Request.Context(), principal(c).Tenant.ID, key,
			idempotency.Hash(c.Request.Method, c.Request.URL.RequestURI(), raw))
		if err != nil {
			return err
		}
		if reply != nil {
			c.Header("Idempotent-Replayed", "true")
			c.Data(reply.Status, "application/json; charset=utf-8", reply.Body)
			return nil
		}
		status, body, err := h(c, ticket)
		if err != nil {
			var p *problem.Error
			if errors.As(err, &p) && !p.Transient {
				// A refusal is an answer: the same request gets it again.
				eb := s.errorBody(c, p)
				b, _ := json.Marshal(eb)
				if ferr := ticket.FinishAlone(c.Request.Context(), eb.Code, b); ferr != nil {
					s.logger.ErrorContext(c.Request.Context(), "store idempotent refusal", "error", ferr)
				}
				c.Data(eb.Code, "application/json; charset=utf-8", b)
				return nil
			}
			if rerr := ticket.Release(c.Request.Context()); rerr != nil {
				s.logger.ErrorContext(c.Request.Context(), "release idempotency key", "error", rerr)
			}
			return err
		}
		c.JSON(status, body)
		return nil
	}
}

// idempotentAfterCommit is idempotent for a handler whose service takes no
// commit hook (campaigns and vouchers): its reply is stored alone right after
// the change committed, and sent as stored.
func (s *Server) idempotentAfterCommit(h func(c *gin.Context) (int, any, error)) handlerFunc {
	return s.idempotent(func(c *gin.Context, ticket *idempotency.Ticket) (int, any, error) {
		status, body, err := h(c)
		if err != nil || ticket == nil {
			return status, body, err
		}
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		if ferr := ticket.FinishAlone(context.WithoutCancel(c.Request.Context()), status, b); ferr != nil {
			s.logger.ErrorContext(c.Request.Context(), "store idempotent reply", "error", ferr)
		}
		return status, json.RawMessage(b), nil
	})
}

// finishWith stores the rendered reply under the ticket inside the service's
// transaction and remembers the bytes so the handler sends exactly them.
func finishWith(ticket *idempotency.Ticket, render func(redemption.Redemption) any, sent *[]byte) redemption.Commit {
	if ticket == nil {
		return nil
	}
	return func(ctx context.Context, tx bun.IDB, r redemption.Redemption) error {
		b, err := json.Marshal(render(r))
		if err != nil {
			return err
		}
		*sent = b
		return ticket.Finish(ctx, tx, http.StatusOK, b)
	}
}

func (s *Server) redeem(c *gin.Context, ticket *idempotency.Ticket) (int, any, error) {
	var req redemption.Request
	if err := decodeJSON(c, &req); err != nil {
		return 0, nil, err
	}
	var sent []byte
	render := func(r redemption.Redemption) any { return toRedeemBody(r) }
	r, err := s.Redemptions.Redeem(withClient(c), tenantOf(c), req, finishWith(ticket, render, &sent))
	if err != nil {
		return 0, nil, err
	}
	if sent != nil {
		return http.StatusOK, json.RawMessage(sent), nil
	}
	return http.StatusOK, render(r), nil
}

type rollbackRequest struct {
	Reason   string                  `json:"reason,omitempty" jsonschema:"maxLength=1000"`
	Metadata map[string]any          `json:"metadata,omitempty" jsonschema:"description=kept on every rollback record"`
	Customer *redemption.CustomerRef `json:"customer,omitempty" jsonschema:"description=customer data (name, email, address, metadata…) to save on the customer it names, as a redemption's"`
}

func (s *Server) rollback(c *gin.Context, ticket *idempotency.Ticket) (int, any, error) {
	return s.rollbackAs(c, ticket, func(r redemption.Redemption) any { return toRollbacksBody(r) })
}

// rollbackOne is Voucherify's single rollback (POST /v1/redemptions/{id}/rollback,
// what its SDKs' rollback calls): the same rollback, answered with the parent
// rollback alone.
func (s *Server) rollbackOne(c *gin.Context, ticket *idempotency.Ticket) (int, any, error) {
	return s.rollbackAs(c, ticket, func(r redemption.Redemption) any { return toRollbacksBody(r).ParentRollback })
}

func (s *Server) rollbackAs(c *gin.Context, ticket *idempotency.Ticket, render func(redemption.Redemption) any) (int, any, error) {
	var req rollbackRequest
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return 0, nil, err
		}
	}
	if r := c.Query("reason"); r != "" && req.Reason == "" {
		req.Reason = r
	}
	if len(req.Reason) > 1000 {
		return 0, nil, problem.Invalid("reason", "reason must be at most 1000 characters")
	}
	if err := metadata.Check("metadata", req.Metadata); err != nil {
		return 0, nil, err
	}
	var sent []byte
	r, err := s.Redemptions.Rollback(c.Request.Context(), tenantOf(c), c.Param("id"),
		redemption.RollbackRequest{Reason: req.Reason, Metadata: req.Metadata, Customer: req.Customer}, finishWith(ticket, render, &sent))
	if err != nil {
		return 0, nil, err
	}
	if sent != nil {
		return http.StatusOK, json.RawMessage(sent), nil
	}
	return http.StatusOK, render(r), nil
}

func (s *Server) getStackingRules(c *gin.Context) error {
	r, err := s.Settings.StackingRules(c.Request.Context(), principal(c).Tenant.ID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, r)
	return nil
}

func (s *Server) putStackingRules(c *gin.Context) error {
	r := redemption.DefaultStackingRules()
	if err := decodeStrictJSON(c, &r); err != nil {
		return err
	}
	out, err := s.Settings.SetStackingRules(c.Request.Context(), principal(c).Tenant.ID, r)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// recordBody renders a stored redemption or rollback record.
func recordBody(rec redemption.Record) any {
	if rec.Kind == "rollback" {
		return toRollbacksBody(redemption.Redemption{Parent: rec}).ParentRollback
	}
	b := redemptionBody{ID: rec.ID, Object: "redemption", Date: rec.CreatedAt.UTC(), CustomerID: optionalString(rec.CustomerID),
		Metadata: rec.Metadata, Amount: recordAmount(rec), Redemption: optionalString(rec.ParentID), Result: "SUCCESS", Status: rec.Status,
		Channel: channelBody{ChannelID: rec.ActorID, ChannelType: "API"}, DiscountAmount: rec.DiscountAmount}
	b.RelatedObjectType, b.RelatedObjectID = rec.Related()
	if b.Metadata == nil {
		b.Metadata = map[string]any{}
	}
	if rec.CustomerID != "" {
		b.Customer = &simpleCustomer{ID: rec.CustomerID, Object: "customer"}
	}
	if rec.GiftCredits > 0 {
		b.Gift = &giftAmountBody{Amount: rec.GiftCredits}
	}
	b.Order = storedOrderBody(rec)
	return b
}

// storedOrderBody is the order rec stored (a parent redemption's or rollback's),
// or nil.
func storedOrderBody(rec redemption.Record) *orderBody {
	o, ok := rec.Order()
	if !ok {
		return nil
	}
	order := orderBodyOf(o.Order, o.Totals, o.ItemDiscounts, rec.CustomerID)
	return &order
}

type redemptionList struct {
	Object      string `json:"object" jsonschema:"enum=list"`
	DataRef     string `json:"data_ref" jsonschema:"enum=redemptions"`
	Redemptions []any  `json:"redemptions"`
	Total       int    `json:"total" jsonschema:"description=records the filter matches in all"`
	HasMore     bool   `json:"has_more"`
}

var redemptionListParams = []param{
	{"limit", "integer", "page size, 1 to 100 (default 10)"},
	{"page", "integer", "page number, 1 to 99 (default 1)"},
	{"starting_after", "string", "the id of the last record of the previous page (newest first only)"},
	{"order", "string", "created_at, id, customer_id or voucher_code; a leading - sorts descending (default -created_at)"},
	{"result", "string", "SUCCESS or FAILURE"},
	{"status", "string", "SUCCEEDED or ROLLED_BACK"},
	{"campaign", "string", "a campaign's id or name"},
	{"customer", "string", "a customer's id or source_id"},
	{"order_id", "string", "an order id"},
	{"parent_redemption", "string", "the children of this redemption"},
	{"object", "string", "redemption or redemption_rollback"},
	{"created_at[after]", "string", "RFC 3339"},
	{"created_at[before]", "string", "RFC 3339"},
	{"filters[voucher_code][conditions][$in]", "string", "Voucherify's filters: filters[<field>][conditions][<$is|$is_not|$in|$not_in>] on voucher_code, related_object_parent_id (campaign), parent_redemption_id, customer_id, object, result or failure_code; a list ($in, $not_in) as repeated or indexed parameters or one comma-separated value; other filters are refused"},
}

func (s *Server) listRedemptions(c *gin.Context) error {
	paging, err := queryPaging(c)
	if err != nil {
		return err
	}
	f := redemption.Filter{Limit: paging.Limit, Page: paging.Page, StartingAfter: paging.StartingAfter, Order: c.Query("order"),
		Result: c.Query("result"), Status: c.Query("status"), Campaign: c.Query("campaign"), Customer: c.Query("customer"),
		OrderID: c.Query("order_id"), ParentID: c.Query("parent_redemption")}
	switch f.Result {
	case "", "SUCCESS", "FAILURE":
	default:
		return problem.Invalid("result", "result must be SUCCESS or FAILURE")
	}
	switch f.Status {
	case "", redemption.Succeeded, redemption.RolledBack:
	default:
		return problem.Invalid("status", "status must be SUCCEEDED or ROLLED_BACK")
	}
	switch c.Query("object") {
	case "":
	case "redemption":
		f.Kind = "redemption"
	case "redemption_rollback":
		f.Kind = "rollback"
	default:
		return problem.Invalid("object", "object must be redemption or redemption_rollback")
	}
	if f.CreatedAfter, err = queryTime(c, "created_at[after]"); err != nil {
		return err
	}
	if f.CreatedBefore, err = queryTime(c, "created_at[before]"); err != nil {
		return err
	}
	none := false
	if f.Conditions, none, err = redemptionFilters(c.Request.URL.Query()); err != nil {
		return err
	}
	if none {
		f.Result = "FAILURE" // every stored record succeeded
	}
	list, err := s.Redemptions.List(c.Request.Context(), principal(c).Tenant.ID, f)
	if err != nil {
		return err
	}
	out := redemptionList{Object: "list", DataRef: "redemptions", Redemptions: make([]any, 0, len(list.Records)), Total: list.Total, HasMore: list.More}
	for _, r := range list.Records {
		out.Redemptions = append(out.Redemptions, recordBody(r))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// redemptionFilters reads Voucherify's filters of GET /v1/redemptions:
// filters[<field>][conditions][<op>]=<value>, where op is $is, $is_not, $in or
// $not_in (a list as repeated parameters, indexed ones, or comma-separated
// value), and filters[junction]=AND. A filter Punchcard does not serve is
// refused, naming its parameter, rather than ignored: a client asking for one
// code's redemptions must not read every redemption as that code's. none reports
// filters no stored record can meet (result FAILURE, a failure_code).
func redemptionFilters(query url.Values) (conds []redemption.Condition, none bool, err error) {
	type key struct{ field, op string }
	byKey := map[key][]string{}
	var order []key
	for name, values := range query {
		if !strings.HasPrefix(name, "filters[") {
			continue
		}
		if name == "filters[junction]" {
			if len(values) != 1 || !strings.EqualFold(values[0], "AND") {
				return nil, false, problem.Invalid(name, "filters[junction] must be AND")
			}
			continue
		}
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(name, "filters["), "]"), "][")
		if len(parts) < 3 || len(parts) > 4 || parts[1] != "conditions" {
			return nil, false, problem.Invalidf(name, "%s: filters take the form filters[<field>][conditions][<$is|$is_not|$in|$not_in>]", name)
		}
		k := key{parts[0], parts[2]}
		switch k.op {
		case "$is", "$is_not", "$in", "$not_in":
		default:
			return nil, false, problem.Invalidf(name, "%s: the condition must be $is, $is_not, $in or $not_in", name)
		}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		// A list is repeated (or indexed) parameters, or one comma-separated
		// value; $is and $is_not take their value whole (a code may hold a
		// comma).
		list := k.op == "$in" || k.op == "$not_in"
		for _, v := range values {
			if list && len(values) == 1 && len(parts) == 3 {
				for _, one := range strings.Split(v, ",") {
					if one = strings.TrimSpace(one); one != "" {
						byKey[k] = append(byKey[k], one)
					}
				}
			} else if v != "" {
				byKey[k] = append(byKey[k], v)
			}
		}
	}
	slices.SortFunc(order, func(a, b key) int { return cmp.Or(cmp.Compare(a.field, b.field), cmp.Compare(a.op, b.op)) })
	for _, k := range order {
		values, param := byKey[k], "filters["+k.field+"][conditions]["+k.op+"]"
		if len(values) == 0 || len(values) > 100 || (k.op == "$is" || k.op == "$is_not") && len(values) != 1 {
			return nil, false, problem.Invalidf(param, "%s takes one value ($is, $is_not) or 1 to 100 ($in, $not_in)", param)
		}
		not := k.op == "$is_not" || k.op == "$not_in"
		switch k.field {
		case "result", "failure_code":
			// Every stored record is a SUCCESS without a failure code: a refused
			// redemption writes nothing but its audit record.
			success := k.field == "result" && slices.Contains(values, "SUCCESS")
			if success == not {
				none = true
			}
			continue
		case "object":
			for i, v := range values {
				switch v {
				case "redemption":
				case "redemption_rollback":
					values[i] = "rollback"
				default:
					return nil, false, problem.Invalidf(param, "%s: object is redemption or redemption_rollback", param)
				}
			}
		default:
			if _, ok := redemption.FilterFields[k.field]; !ok {
				return nil, false, problem.Invalidf(param, "%s: Punchcard filters redemptions by voucher_code, related_object_parent_id, parent_redemption_id, customer_id, object, result and failure_code", param)
			}
		}
		conds = append(conds, redemption.Condition{Field: k.field, Not: not, Values: values})
	}
	return conds, none, nil
}

func (s *Server) getRedemption(c *gin.Context) error {
	r, err := s.Redemptions.Get(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, recordBody(r))
	return nil
}

// qualifiedBody is one redeemable a qualification found.
type qualifiedBody struct {
	ID           string           `json:"id"`
	Object       string           `json:"object" jsonschema:"enum=voucher,enum=promotion_tier"`
	Result       redeemableResult `json:"result"`
	Order        orderBody        `json:"order"`
	Metadata     map[string]any   `json:"metadata"`
	Banner       string           `json:"banner,omitempty"`
	Name         string           `json:"name,omitempty"`
	CampaignName string           `json:"campaign_name,omitempty"`
	CampaignID   string           `json:"campaign_id,omitempty"`
	CreatedAt    time.Time        `json:"created_at" jsonschema:"description=when the voucher or promotion tier was created: the next page's options.starting_after"`
}

type qualifiedList struct {
	Object  string          `json:"object" jsonschema:"enum=list"`
	DataRef string          `json:"data_ref" jsonschema:"enum=data"`
	Data    []qualifiedBody `json:"data"`
	Total   int             `json:"total"`
	HasMore bool            `json:"has_more"`
	// MoreStartingAfter is the next page's options.starting_after.
	MoreStartingAfter *time.Time `json:"more_starting_after,omitempty" jsonschema:"description=the options.starting_after of the next page, when there may be one"`
}

type qualificationBody struct {
	Redeemables   qualifiedList            `json:"redeemables"`
	Order         orderBody                `json:"order"`
	StackingRules redemption.StackingRules `json:"stacking_rules"`
}

func (s *Server) qualify(c *gin.Context) error {
	var req redemption.QualifyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	res, page, err := s.Redemptions.Qualify(withClient(c), tenantOf(c), req)
	if err != nil {
		return err
	}
	out := qualificationBody{Redeemables: qualifiedList{Object: "list", DataRef: "data", Data: []qualifiedBody{}, HasMore: page.More, MoreStartingAfter: page.StartingAfter},
		Order: toOrderBody(redemption.Result{Order: res.Order, Customer: res.Customer, Totals: res.Totals}), StackingRules: res.Stacking}
	for _, o := range res.Outcomes {
		q := qualifiedBody{ID: o.Ref.ID, Object: o.Ref.Object, Result: applicableResult(o), Metadata: metadataOf(o), CreatedAt: o.CreatedAt().UTC()}
		if q.Metadata == nil {
			q.Metadata = map[string]any{}
		}
		if o.Tier != nil {
			q.Name, q.Banner = o.Tier.Name, o.Tier.Banner
		}
		if o.Campaign != nil {
			q.CampaignName, q.CampaignID = o.Campaign.Name, o.Campaign.ID
		}
		// The order as this redeemable alone would leave it.
		q.Order = toOrderBody(redemption.Result{Order: res.Order, Customer: res.Customer,
			Totals: o.Applied.Totals(res.Order.Amount), Outcomes: []redemption.Outcome{o}})
		out.Redeemables.Data = append(out.Redeemables.Data, q)
	}
	out.Redeemables.Total = len(out.Redeemables.Data)
	c.JSON(http.StatusOK, out)
	return nil
}
