package redemption

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// Decider makes policy decisions; *policies.Engine is one.
type Decider interface {
	// EvaluateDocument decides kind on the request's shared input document plus
	// the decision's own keys.
	EvaluateDocument(ctx context.Context, tenantID string, kind policies.Kind, shared policies.Document, own map[string]any) (policies.Decision, error)
}

// Tenant is what the engine needs of the tenant: its currency and time zone.
type Tenant struct {
	ID, Slug, Currency, Timezone string
}

// Engine validates and redeems. It is safe for concurrent use.
type Engine struct {
	db       *db.DB
	settings *Settings
	policies Decider
	audit    *audit.Log
	now      func() time.Time
	tracer   trace.Tracer
	zones    sync.Map // time zone name → *time.Location
	velocity *velocity

	tenantPolicies TenantPolicies // nil: every tenant on the base policies
}

// NewEngine returns the engine.
func NewEngine(d *db.DB, s *Settings, p Decider, a *audit.Log, now func() time.Time, tp trace.TracerProvider) *Engine {
	return &Engine{db: d, settings: s, policies: p, audit: a, now: now, velocity: newVelocity(), tracer: tp.Tracer("github.com/punchcard-loyalty/punchcard/platform/redemption")}
}

// Outcome is what became of one requested redeemable.
type Outcome struct {
	Ref      RedeemableRef
	Status   string
	Voucher  *campaigns.Voucher // for a voucher
	Tier     *campaigns.Tier    // for a promotion tier
	Campaign *campaigns.Campaign
	Reason   *policies.Reason // why it is INAPPLICABLE or SKIPPED
	Applied  Applied          // what it did (APPLICABLE)
}

// Result is a validation: every redeemable's outcome and the order after the
// applicable ones.
type Result struct {
	Valid    bool
	Outcomes []Outcome
	Order    Order
	Totals   Totals
	Stacking StackingRules
	Customer *customers.Customer
	Channel  string
	Local    Local

	// customerChanges names the fields of Customer the request's customer data
	// changes: a redemption writes them.
	customerChanges []string
	// policyRefused is set when the request was refused as a whole by the
	// fraud policy or because the customer's segments could not be decided.
	policyRefused bool
}

// customersFailure reports whether an invalid result is the customer's doing
// (an unknown code, a limit reached, a rule not met): what the fraud policy's
// failed_validations_last_10m counts. A fraud denial is not, or a customer
// once over the threshold would stay refused for as long as they retried; nor
// is a policy that failed or ran out of time, which is the tenant's or the
// server's.
func (r Result) customersFailure() bool {
	if r.Valid || r.policyRefused {
		return false
	}
	for _, o := range r.Outcomes {
		if o.Reason != nil && (o.Reason.Code == policies.CodeError || o.Reason.Code == policies.CodeTimeout) {
			return false
		}
	}
	return true
}

// Local is the request's moment in the tenant's time zone.
type Local struct {
	Date    string // YYYY-MM-DD
	Weekday int    // 1 = Monday … 7 = Sunday
	Hour    int
	Minute  int
}

// snapshot is what one evaluation reads, in one read transaction.
type snapshot struct {
	stacking  StackingRules
	vouchers  map[string]campaigns.Voucher // by code
	tiers     map[string]campaigns.Tier    // by id
	campaigns map[string]campaigns.Campaign
	usage     map[usageKey]int64
	customer  *customers.Customer // with the request's customer data
	changes   []string            // the fields of customer the request's data changes
	recent    int64               // the customer's redemptions in the last hour
}

type usageKey struct{ campaign, customer, period string }

// Validate evaluates the request without redeeming anything.
func (e *Engine) Validate(ctx context.Context, t Tenant, req Request) (Result, error) {
	ctx, span := e.tracer.Start(ctx, "redemption.Validate", trace.WithAttributes(telemetry.TenantAttr(t.ID)))
	defer span.End()
	res, err := e.evaluate(ctx, t, &req, nil)
	if err == nil {
		span.SetAttributes(attribute.Bool("redemption.valid", res.Valid))
		e.velocity.validated(velocityKey(t.ID, res.Customer), !res.customersFailure(), e.now())
	}
	return res, err
}

// evaluate runs the pipeline: resolve, fraud, eligibility, stacking, discounts.
// It reads in tx, or in a read transaction of its own when tx is nil.
func (e *Engine) evaluate(ctx context.Context, t Tenant, req *Request, tx bun.IDB) (Result, error) {
	// The request's shape first, so that a malformed one reads nothing.
	if err := req.check(MaxRedeemablesRead, e.now()); err != nil {
		return Result{}, err
	}
	if err := req.Order.Normalize(t.Currency); err != nil {
		return Result{}, err
	}
	now, local, err := e.clock(t)
	if err != nil {
		return Result{}, err
	}
	snap, err := e.read(ctx, t, tx, req.Redeemables, req.Customer, local, now)
	if err != nil {
		return Result{}, err
	}
	if len(req.Redeemables) > snap.stacking.RedeemablesLimit {
		return Result{}, tooManyRedeemables(len(req.Redeemables), snap.stacking.RedeemablesLimit)
	}
	res := Result{Stacking: snap.stacking, Customer: snap.customer, Channel: req.channel(), Local: local, customerChanges: snap.changes}
	// The input every decision of this request shares, converted for OPA once.
	in, undecided, err := e.document(ctx, t, tx, now, local, res.Channel, "", snap.customer, req.Order)
	if err != nil {
		return Result{}, err
	}

	// Fraud: the request as a whole.
	validations, failures := e.velocity.counts(velocityKey(t.ID, snap.customer), now)
	thresholds, err := e.fraudThresholds(ctx, t.ID)
	if err != nil {
		return Result{}, err
	}
	fraud, _ := e.policies.EvaluateDocument(ctx, t.ID, policies.Fraud, in, map[string]any{
		"redeemables": refsDoc(req.Redeemables),
		"request":     map[string]any{"ip": telemetry.ClientIP(ctx), "user_agent": telemetry.UserAgent(ctx)},
		"velocity": map[string]any{"customer_redemptions_last_hour": snap.recent,
			"customer_validations_last_minute": validations, "failed_validations_last_10m": failures},
		"settings": map[string]any{"fraud": thresholds},
	})

	// Eligibility: each redeemable on its own. Each one's input document is kept
	// for the stacking decisions below.
	res.Outcomes = make([]Outcome, len(req.Redeemables))
	docs := make([]policies.Value, len(req.Redeemables))
	for i, ref := range req.Redeemables {
		o, found := snap.outcome(ref)
		switch {
		case !found:
			o.Status, o.Reason = StatusInapplicable, &policies.Reason{Code: keyNotFound, Message: "no " + ref.Object + " has this id", Rule: ref.Object}
		case undecided != nil:
			r := *undecided
			o.Status, o.Reason, res.policyRefused = StatusInapplicable, &r, true
		case !fraud.Allowed():
			r := fraud.Deny[0]
			o.Status, o.Reason, res.policyRefused = StatusInapplicable, &r, true
		default:
			if docs[i], err = policies.NewValue(redeemableDoc(&o, snap, res.Customer, local)); err != nil {
				return Result{}, err
			}
			d, _ := e.policies.EvaluateDocument(ctx, t.ID, policies.Eligibility, in, map[string]any{"redeemable": docs[i]})
			if !d.Allowed() {
				r := d.Deny[0]
				o.Status, o.Reason = StatusInapplicable, &r
			} else {
				o.Status = StatusApplicable
			}
		}
		res.Outcomes[i] = o
	}

	// Stacking and discounts, in the tenant's order.
	order := applicationOrder(res.Outcomes, snap.stacking)
	calc := NewCalculation(req.Order, snap.stacking.DiscountCalculationMode, snap.stacking.RedeemablesProductsApplicationMode == "ONCE")
	stackingDoc, err := policies.NewValue(stackingRulesDoc(snap.stacking))
	if err != nil {
		return Result{}, err
	}
	// budgeted is the discount this request's redeemables took so far, by
	// campaign with a total_discount_amount limit.
	budgeted := map[string]int64{}
	// take applies redeemable i to the order, or skips it: in DISCOUNTED mode
	// when its rules no longer hold on the order the discounts before it leave
	// (a minimum order amount), or when it has no effect and the rules skip
	// such redeemables. A redeemable of a campaign with a discount budget is
	// judged once more with the discount it would give (and its campaign's
	// others in this request) as input.redeemable.discount_amount: a budget
	// with less left refuses it, as the redemption's guard would.
	take := func(i int) {
		o := &res.Outcomes[i]
		if discounted := calc.Discounted(); discounted != nil {
			if d, _ := e.policies.EvaluateDocument(ctx, t.ID, policies.Eligibility, in, map[string]any{"redeemable": docs[i], "order": orderDoc(discounted)}); !d.Allowed() {
				r := d.Deny[0]
				o.Status, o.Reason = StatusSkipped, &r
				return
			}
		}
		// A budgeted redeemable applies to a copy of the calculation, kept
		// only once the budget allows what it gave.
		trial := calc
		if hasBudget(o) {
			trial = calc.clone()
		}
		a := e.apply(trial, o)
		if r := e.overBudget(ctx, t.ID, in, o, a, budgeted, func(discount int64) (any, error) {
			return docs[i].With(map[string]any{"discount_amount": discount})
		}); r != nil {
			o.Status, o.Reason = StatusInapplicable, r
			return
		}
		if trial != calc {
			*calc = *trial
		}
		o.Applied = a
		if o.Applied.None() && noEffectSkips(snap.stacking, category(o)) {
			o.Status, o.Reason = StatusSkipped, &policies.Reason{Code: "no_effect", Message: "the redeemable would not change the order", Rule: "stacking.redeemables_no_effect_rule"}
		}
	}
	applied := []policies.Value{}
	var gifts []int
	for _, i := range order {
		o := &res.Outcomes[i]
		cat := category(o)
		doc, err := docs[i].With(map[string]any{
			"category":  cat,
			"exclusive": snap.stacking.exclusive(cat),
			"joint":     slices.Contains(snap.stacking.JointCategories, cat),
		})
		if err != nil {
			return Result{}, err
		}
		d, _ := e.policies.EvaluateDocument(ctx, t.ID, policies.Stacking, in, map[string]any{"candidate": doc, "applied": applied, "stacking": stackingDoc})
		if !d.Allowed() {
			r := d.Deny[0]
			o.Status, o.Reason = StatusSkipped, &r
			continue
		}
		if isGift(o) {
			// A gift card takes its place among the stacked redeemables in its
			// turn, but pays for what the discounts leave: after all of them.
			gifts = append(gifts, i)
			applied = append(applied, doc)
			continue
		}
		take(i)
		if o.Status == StatusApplicable {
			applied = append(applied, doc)
		}
	}
	for _, i := range gifts {
		take(i)
	}
	// Validity, as Voucherify decides it: a redeemable the stacking rules skip
	// does not spoil the others; one that is inapplicable does, unless the
	// stacking rules apply redeemables PARTIALly.
	applicable, inapplicable := 0, 0
	for _, o := range res.Outcomes {
		switch o.Status {
		case StatusApplicable:
			applicable++
		case StatusInapplicable:
			inapplicable++
		}
	}
	partial := snap.stacking.RedeemablesApplicationMode == "PARTIAL"
	if !partial && applicable > 0 && inapplicable > 0 {
		// ALL: one redeemable that does not apply stops the others, and the
		// order keeps its amounts.
		for i := range res.Outcomes {
			if o := &res.Outcomes[i]; o.Status == StatusApplicable {
				o.Status, o.Applied = StatusSkipped, Applied{}
				o.Reason = &policies.Reason{Code: "preceding_validation_failed", Rule: "stacking.redeemables_application_mode",
					Message: "Another redeemable of the request does not apply, and the stacking rules apply all or none."}
			}
		}
		calc = NewCalculation(req.Order, snap.stacking.DiscountCalculationMode, false)
		applicable = 0
	}
	req.Order.Items = append(req.Order.Items, addedItems(res.Outcomes)...)
	res.Order, res.Totals = *req.Order, calc.Totals()
	res.Valid = applicable > 0 && (partial || inapplicable == 0)
	return res, nil
}

// outcome resolves a reference to its voucher or tier and campaign; found is
// false when no such redeemable exists.
func (snap *snapshot) outcome(ref RedeemableRef) (o Outcome, found bool) {
	o.Ref = ref
	campaignID := ""
	if ref.Object == ObjectPromotionTier {
		t, ok := snap.tiers[ref.ID]
		if !ok {
			return o, false
		}
		o.Tier, campaignID = &t, t.CampaignID
	} else {
		v, ok := snap.vouchers[ref.ID]
		if !ok {
			return o, false
		}
		o.Voucher, campaignID = &v, v.CampaignID
	}
	if c, ok := snap.campaigns[campaignID]; ok {
		o.Campaign = &c
	}
	return o, true
}

// apply computes one applicable redeemable's effect on the order.
func (e *Engine) apply(calc *Calculation, o *Outcome) Applied {
	discount := o.Discount()
	if isGift(o) {
		var credits int64
		if o.Ref.Gift != nil {
			credits = o.Ref.Gift.Credits
		}
		return calc.ApplyGift(o.Voucher.GiftBalance, credits)
	}
	if discount == nil {
		return Applied{}
	}
	var applicable func(Item) bool
	if p := o.products(); p != nil && (len(p.Included) > 0 || len(p.Excluded) > 0) {
		applicable = func(it Item) bool {
			in := len(p.Included) == 0 || slices.ContainsFunc(p.Included, it.refersTo)
			return in && !slices.ContainsFunc(p.Excluded, it.refersTo)
		}
	}
	return calc.ApplyDiscount(*discount, applicable)
}

// hasBudget reports whether o's campaign has a discount budget its discounts
// count against (gift credits are a payment, not a discount).
func hasBudget(o *Outcome) bool {
	return o.Campaign != nil && o.Campaign.Limits.TotalDiscountAmount != nil && !isGift(o)
}

// overBudget judges o, when its campaign has a discount budget (hasBudget),
// once more with the discount a gives, plus what its campaign's redeemables
// before it gave (budgeted, by campaign; nil when o is priced alone), as
// input.redeemable.discount_amount (redeemable makes that input): the reason
// the budget refuses it, or nil, and then budgeted counts its discount too.
func (e *Engine) overBudget(ctx context.Context, tenantID string, in policies.Document, o *Outcome, a Applied,
	budgeted map[string]int64, redeemable func(discount int64) (any, error)) *policies.Reason {
	if !hasBudget(o) {
		return nil
	}
	c := o.Campaign
	discount := budgeted[c.ID] + a.Total() - a.GiftCredits
	doc, err := redeemable(discount)
	if err != nil {
		return &policies.Reason{Code: policies.CodeError, Message: "The policy could not be evaluated.", Rule: "engine.error"}
	}
	if d, _ := e.policies.EvaluateDocument(ctx, tenantID, policies.Eligibility, in, map[string]any{"redeemable": doc}); !d.Allowed() {
		return &d.Deny[0]
	}
	if budgeted != nil {
		budgeted[c.ID] = discount
	}
	return nil
}

// applicationOrder is the order in which the applicable outcomes are stacked
// and applied: the request's, or the category hierarchy's with
// CATEGORY_HIERARCHY; several tiers of one promotion by their hierarchy; then
// exclusive redeemables first (stably).
func applicationOrder(outcomes []Outcome, r StackingRules) []int {
	order := make([]int, 0, len(outcomes))
	for i, o := range outcomes {
		if o.Status == StatusApplicable {
			order = append(order, i)
		}
	}
	if r.RedeemablesSortingRule == "CATEGORY_HIERARCHY" {
		rank := func(i int) int {
			if k := slices.Index(r.CategoryHierarchy, category(&outcomes[i])); k >= 0 {
				return k
			}
			return len(r.CategoryHierarchy)
		}
		slices.SortStableFunc(order, func(a, b int) int { return rank(a) - rank(b) })
	}
	byHierarchy(order, outcomes)
	// An exclusive redeemable is "the only redeemable to be redeemed" with others
	// that are neither exclusive nor joint (Voucherify): it goes first, and the
	// stacking policy then skips those others, wherever the request put it (or
	// the promotion's hierarchy: an exclusive tier goes before its siblings).
	if len(r.ExclusiveCategories) > 0 && len(order) > 1 {
		exclusive := func(i int) bool { return r.exclusive(category(&outcomes[i])) }
		slices.SortStableFunc(order, func(a, b int) int {
			switch ea, eb := exclusive(a), exclusive(b); {
			case ea && !eb:
				return -1
			case eb && !ea:
				return 1
			}
			return 0
		})
	}
	return order
}

// byHierarchy puts the promotion tiers of each campaign in order, in the places
// its tiers hold, by their hierarchy: Voucherify applies several tiers of one
// promotion in its hierarchy's order, whatever their order in the request.
func byHierarchy(order []int, outcomes []Outcome) {
	if len(order) < 2 {
		return
	}
	var places map[string][]int // campaign → places in order of its tiers
	for p, i := range order {
		if t := outcomes[i].Tier; t != nil {
			if places == nil {
				places = map[string][]int{}
			}
			places[t.CampaignID] = append(places[t.CampaignID], p)
		}
	}
	for _, ps := range places {
		if len(ps) < 2 {
			continue
		}
		tiers := make([]int, len(ps))
		for k, p := range ps {
			tiers[k] = order[p]
		}
		slices.SortStableFunc(tiers, func(a, b int) int { return cmp.Compare(outcomes[a].Tier.Hierarchy, outcomes[b].Tier.Hierarchy) })
		for k, p := range ps {
			order[p] = tiers[k]
		}
	}
}

// isGift reports whether the redeemable is a gift card.
func isGift(o *Outcome) bool { return o.Voucher != nil && o.Voucher.Type == campaigns.VoucherGift }

// Discount is what the redeemable takes off, if it is a discount.
func (o *Outcome) Discount() *campaigns.Discount {
	if o.Tier != nil {
		return &o.Tier.Discount
	}
	if o.Voucher != nil {
		return o.Voucher.Discount
	}
	return nil
}

// products are the product rules that say which lines an item discount touches:
// the tier's own, else its campaign's.
func (o *Outcome) products() *campaigns.ProductRules {
	if o.Tier != nil && o.Tier.Rules.Products != nil {
		return o.Tier.Rules.Products
	}
	if o.Campaign != nil {
		return o.Campaign.Rules.Products
	}
	return nil
}

func noEffectSkips(r StackingRules, category string) bool {
	if slices.Contains(r.NoEffectSkipCategories, category) {
		return true
	}
	if slices.Contains(r.NoEffectRedeemAnywayCategories, category) {
		return false
	}
	return r.RedeemablesNoEffectRule == "SKIP"
}

func addedItems(os []Outcome) []Item {
	var out []Item
	for _, o := range os {
		if o.Status == StatusApplicable {
			out = append(out, o.Applied.AddedItems...)
		}
	}
	return out
}

func category(o *Outcome) string {
	if o.Voucher != nil && o.Voucher.Category != "" {
		return o.Voucher.Category
	}
	if o.Tier != nil && o.Tier.Category != "" {
		return o.Tier.Category
	}
	if o.Campaign != nil {
		return o.Campaign.Category
	}
	return ""
}

// read loads everything the evaluation of refs needs: the stacking rules, the
// customer and what loadRefs reads, in tx, or with ReadEach when tx is nil (a
// read transaction on PostgreSQL; on SQLite each statement reads the latest
// committed state, and a redemption's guards check again what it relies on).
// Callers bound refs (MaxRedeemablesRead, and qualifyBatch or momentCap per
// kind).
func (e *Engine) read(ctx context.Context, t Tenant, tx bun.IDB, refs []RedeemableRef, customer *CustomerRef, local Local, now time.Time) (*snapshot, error) {
	snap := newSnapshot()
	load := func(ctx context.Context, tx bun.IDB) error {
		var err error
		if snap.stacking, err = e.settings.cachedStackingRules(ctx, tx, t.ID); err != nil {
			return err
		}
		if customer != nil {
			if err := findCustomer(ctx, tx, t.ID, customer, now, snap); err != nil {
				return err
			}
		}
		return e.loadRefs(ctx, t, tx, snap, refs, local)
	}
	var err error
	if tx != nil {
		err = load(ctx, tx)
	} else {
		err = e.db.ReadEach(ctx, t.ID, load)
	}
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// readRefs is a snapshot of base's stacking rules and customer with what the
// evaluation of refs needs, read anew: a qualification reads its candidates in
// batches, and its stacking rules and customer once.
func (e *Engine) readRefs(ctx context.Context, t Tenant, base *snapshot, refs []RedeemableRef, local Local) (*snapshot, error) {
	snap := newSnapshot()
	snap.stacking, snap.customer, snap.changes, snap.recent = base.stacking, base.customer, base.changes, base.recent
	if err := e.db.ReadEach(ctx, t.ID, func(ctx context.Context, q bun.IDB) error { return e.loadRefs(ctx, t, q, snap, refs, local) }); err != nil {
		return nil, err
	}
	return snap, nil
}

func newSnapshot() *snapshot {
	return &snapshot{vouchers: map[string]campaigns.Voucher{}, tiers: map[string]campaigns.Tier{}, campaigns: map[string]campaigns.Campaign{}, usage: map[usageKey]int64{}}
}

// loadRefs reads into snap the vouchers and promotion tiers refs name, their
// campaigns and, for campaigns with per-customer or per-period limits, the usage
// counters of snap's customer.
func (e *Engine) loadRefs(ctx context.Context, t Tenant, tx bun.IDB, snap *snapshot, refs []RedeemableRef, local Local) error {
	var codes, tierIDs []string
	for _, r := range refs {
		if r.Object == ObjectPromotionTier {
			tierIDs = append(tierIDs, r.ID)
		} else {
			codes = append(codes, r.ID)
		}
	}
	// The campaigns to read after the vouchers and tiers.
	var campIDs []string
	needed := map[string]bool{}
	needCampaign := func(id string) {
		if _, ok := snap.campaigns[id]; !ok && id != "" && !needed[id] {
			needed[id] = true
			campIDs = append(campIDs, id)
		}
	}
	switch {
	case len(codes) > 0 && len(codes) <= joinedCodes:
		var vs []voucherRow
		if err := vouchersByCode.Scan(ctx, tx, &vs, len(codes), listArgs(t.ID, codes)...); err != nil {
			return fmt.Errorf("load vouchers: %w", err)
		}
		for _, v := range vs {
			snap.vouchers[v.Code] = v.Voucher
			if v.Campaign.ID != "" {
				snap.campaigns[v.Campaign.ID] = v.Campaign
			}
		}
	case len(codes) > 0:
		var vs []campaigns.Voucher
		if err := vouchersOnlyByCode.Scan(ctx, tx, &vs, len(codes), listArgs(t.ID, codes)...); err != nil {
			return fmt.Errorf("load vouchers: %w", err)
		}
		for _, v := range vs {
			snap.vouchers[v.Code] = v
			needCampaign(v.CampaignID)
		}
	}
	if len(tierIDs) > 0 {
		var ts []campaigns.Tier
		if err := tiersByID.Scan(ctx, tx, &ts, len(tierIDs), listArgs(t.ID, tierIDs)...); err != nil {
			return fmt.Errorf("load promotion tiers: %w", err)
		}
		for _, tr := range ts {
			snap.tiers[tr.ID] = tr
			needCampaign(tr.CampaignID)
		}
	}
	if len(campIDs) > 0 {
		var cs []campaigns.Campaign
		if err := campaignsByID.Scan(ctx, tx, &cs, len(campIDs), listArgs(t.ID, campIDs)...); err != nil {
			return fmt.Errorf("load campaigns: %w", err)
		}
		for _, c := range cs {
			snap.campaigns[c.ID] = c
		}
	}
	// Usage counters exist only for campaigns with per-customer or per-period
	// limits; without such a campaign there is nothing to read.
	var counted []string
	for id, c := range snap.campaigns {
		if countsUsage(c.Limits) {
			counted = append(counted, id)
		}
	}
	if len(counted) == 0 {
		return nil
	}
	customerIDs := []string{""} // "": the campaign's own counters
	if snap.customer != nil && snap.customer.ID != "" {
		customerIDs = append(customerIDs, snap.customer.ID)
	}
	rows, err := tx.QueryContext(ctx, `SELECT campaign_id, customer_id, period, count FROM redemption_usage
		WHERE tenant_id = ? AND campaign_id IN (?) AND customer_id IN (?) AND period IN (?)`,
		t.ID, bun.List(counted), bun.List(customerIDs), bun.List([]string{"", local.Date, local.Date[:7]}))
	if err != nil {
		return fmt.Errorf("load usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k usageKey
		var n int64
		if err := rows.Scan(&k.campaign, &k.customer, &k.period, &n); err != nil {
			return err
		}
		snap.usage[k] = n
	}
	return rows.Err()
}

// The reads of every validation, redemption and qualification, prepared.
var (
	// vouchersByCode reads each voucher with its campaign (see voucherRow).
	vouchersByCode = db.NewStatement("SELECT", "vouchers", func(q bun.IDB, n int) string {
		sel := q.NewSelect().Model((*campaigns.Voucher)(nil)).ColumnExpr("v.*")
		for _, f := range q.Dialect().Tables().Get(reflect.TypeFor[campaigns.Campaign]()).Fields {
			sel = sel.ColumnExpr("cp.? AS ?", bun.Ident(f.Name), bun.Ident(campaignColumns+f.Name))
		}
		return sel.Join("LEFT JOIN campaigns AS cp ON cp.tenant_id = v.tenant_id AND cp.id = v.campaign_id").
			Where("v.tenant_id = ?", db.Placeholder).Where("v.code IN (?)", db.List(n)).String()
	})
	tiersByID = db.NewStatement("SELECT", "promotion_tiers", func(q bun.IDB, n int) string {
		return q.NewSelect().Model((*campaigns.Tier)(nil)).
			Where("pt.tenant_id = ?", db.Placeholder).Where("pt.id IN (?)", db.List(n)).String()
	})
	// vouchersOnlyByCode reads vouchers alone, for more than joinedCodes.
	vouchersOnlyByCode = db.NewStatement("SELECT", "vouchers", func(q bun.IDB, n int) string {
		return q.NewSelect().Model((*campaigns.Voucher)(nil)).
			Where("v.tenant_id = ?", db.Placeholder).Where("v.code IN (?)", db.List(n)).String()
	})
	campaignsByID = db.NewStatement("SELECT", "campaigns", func(q bun.IDB, n int) string {
		return q.NewSelect().Model((*campaigns.Campaign)(nil)).
			Where("cp.tenant_id = ?", db.Placeholder).Where("cp.id IN (?)", db.List(n)).String()
	})
)

// joinedCodes is the most codes read with their campaigns in one statement
// (vouchersByCode), as a validation's or redemption's few are: one round trip.
// More, as a qualification's batch of a customer's wallet, whose codes often
// share a few campaigns, are read alone and their campaigns once each after.
const joinedCodes = 4

// voucherRow is a voucher and its campaign, read in one statement: a
// validation reads both, and on PostgreSQL each statement is a round trip. A
// standalone voucher's Campaign is zero.
type voucherRow struct {
	campaigns.Voucher `bun:",extend"`
	Campaign          campaigns.Campaign `bun:"embed:campaign__"`
}

// campaignColumns prefixes the campaign's columns in vouchersByCode, as
// voucherRow's embed tag names them.
const campaignColumns = "campaign__"

// listArgs is a Statement's arguments: the tenant, then an IN list.
func listArgs(tenantID string, list []string) []any {
	args := make([]any, 0, len(list)+1)
	args = append(args, tenantID)
	for _, v := range list {
		args = append(args, v)
	}
	return args
}

// customerRow is a customer with its redemptions of the last hour, for the
// fraud policy's velocity check.
type customerRow struct {
	customers.Customer `bun:",extend"`
	RecentRedemptions  int64 `bun:"recent_redemptions,scanonly"`
}

// customerWithRecentBy are the prepared lookups of a customer by id and by source_id, with
// the count of recent redemptions in the same query.
var customerWithRecentBy = map[string]*db.Statement{"id": customerWithRecentStatement("id"), "source_id": customerWithRecentStatement("source_id")}

func customerWithRecentStatement(column string) *db.Statement {
	return db.NewStatement("SELECT", "customers", func(q bun.IDB, _ int) string {
		return q.NewSelect().Model((*customerRow)(nil)).ColumnExpr("c.*").
			ColumnExpr(`(SELECT count(*) FROM redemptions AS r WHERE r.tenant_id = c.tenant_id AND r.customer_id = c.id
				AND r.kind = 'redemption' AND r.parent_id IS NOT NULL AND r.created_at > ?) AS recent_redemptions`, db.Placeholder).
			Where("c.tenant_id = ?", db.Placeholder).Where("c."+column+" = ?", db.Placeholder).String()
	})
}

// findCustomer loads the customer the request names, trying the lookups of
// customers.Find in its order, with the customer's redemptions in the hour
// before now, and gives it the customer data the request carries. A source_id
// the tenant does not know (and no id) names a new customer: one without an id
// yet and with nothing redeemed, whom a redemption creates (store). An unknown
// id names no one.
func findCustomer(ctx context.Context, tx bun.IDB, tenantID string, ref *CustomerRef, now time.Time, snap *snapshot) error {
	for _, l := range customers.Lookups(ref.ID, ref.SourceID) {
		var row customerRow
		err := customerWithRecentBy[l.Column].Scan(ctx, tx, &row, 0, now.Add(-time.Hour), tenantID, l.Value)
		if db.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load customer: %w", err)
		}
		snap.customer, snap.recent = &row.Customer, row.RecentRedemptions
		snap.changes = ref.applyProfile(snap.customer)
		return nil
	}
	if ref.ID == "" && ref.SourceID != "" {
		snap.customer = &customers.Customer{TenantID: tenantID, SourceID: ref.SourceID, CreatedAt: now, UpdatedAt: now}
		snap.changes = ref.applyProfile(snap.customer)
	}
	return nil
}

// countsUsage reports whether a campaign's limits need usage counters.
func countsUsage(l campaigns.Limits) bool {
	return l.PerCustomer != nil || l.PerCustomerPerDay != nil || l.PerCustomerPerMonth != nil || l.PerDay != nil || l.PerMonth != nil
}

// clock is now, in UTC and in the tenant's time zone.
func (e *Engine) clock(t Tenant) (time.Time, Local, error) {
	now := e.now().UTC()
	loc, err := e.zone(t.Timezone)
	if err != nil {
		return now, Local{}, err
	}
	lt := now.In(loc)
	wd := int(lt.Weekday())
	if wd == 0 {
		wd = 7
	}
	return now, Local{Date: lt.Format(time.DateOnly), Weekday: wd, Hour: lt.Hour(), Minute: lt.Minute()}, nil
}

// MaxRedeemablesRead bounds the redeemables of one request before the tenant's
// stacking rules are read: Voucherify's largest redeemables_limit.
const MaxRedeemablesRead = 30

func (e *Engine) zone(name string) (*time.Location, error) {
	if l, ok := e.zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("tenant time zone %q: %w", name, err)
	}
	e.zones.Store(name, l)
	return l, nil
}

// refusal errors are the client's fault: 400 with the keys. The key is the
// first inapplicable redeemable's (the others are skipped because of it), or
// the first skipped one's. A refusal for a policy that ran out of time is
// transient: the request may pass when tried again.
func rejected(res Result) error {
	var details, key, skipped string
	transient := false
	for _, o := range res.Outcomes {
		if o.Reason == nil {
			continue
		}
		transient = transient || o.Reason.Code == policies.CodeTimeout
		if details != "" {
			details += "; "
		}
		details += fmt.Sprintf("%s: %s (%s)", o.Ref.ID, o.Reason.Code, o.Reason.Message)
		switch {
		case key == "" && o.Status == StatusInapplicable:
			key = o.Reason.Code
		case skipped == "":
			skipped = o.Reason.Code
		}
	}
	key = cmp.Or(key, skipped, "validation_failed")
	if details == "" {
		details = "no redeemable applies to this order"
	}
	return &problem.Error{Kind: problem.KindInvalid, Key: key, Message: "Redemption refused", Details: details, Field: "redeemables", Transient: transient}
}
