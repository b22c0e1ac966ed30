package redemption

import (
	"maps"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/customers"
)

// The policy input document (API.md, "Policy input and decisions"), built from
// plain maps and slices so that OPA reads it without reflection. Personal data
// (email, phone, name) never enters it.

func inputBase(t Tenant, now time.Time, l Local, channel string, c *customers.Customer, o *Order) map[string]any {
	return map[string]any{
		"tenant":          map[string]any{"id": t.ID, "slug": t.Slug, "currency": t.Currency, "timezone": t.Timezone},
		"now":             now.Format(time.RFC3339Nano),
		"local":           map[string]any{"date": l.Date, "weekday": l.Weekday, "hour": l.Hour, "minute": l.Minute},
		"channel":         channel,
		"customer":        customerDoc(c),
		"order":           orderDoc(o),
		"metadata":        map[string]any{},
		"metadata_errors": map[string]any{},
	}
}

func clone(m map[string]any) map[string]any { return maps.Clone(m) }

func customerDoc(c *customers.Customer) any {
	if c == nil {
		return nil
	}
	doc := map[string]any{
		"id": c.ID, "source_id": c.SourceID, "created_at": c.CreatedAt.UTC().Format(time.RFC3339Nano),
		"address": map[string]any{}, "metadata": orEmpty(c.Metadata), "segments": []any{}, "tier": "",
		"stats": (*CustomerStats)(nil).doc(),
	}
	if a := c.Address; a != nil {
		doc["address"] = map[string]any{"country": a.Country, "city": a.City}
	}
	return doc
}

func orderDoc(o *Order) map[string]any {
	items := make([]any, len(o.Items))
	for i, it := range o.Items {
		items[i] = map[string]any{"sku_id": it.SKUID, "product_id": it.ProductID, "source_id": it.SourceID,
			"quantity": it.Quantity, "price": it.Price, "amount": it.Amount, "metadata": orEmpty(it.Metadata)}
	}
	return map[string]any{"amount": o.Amount, "items": items, "metadata": orEmpty(o.Metadata)}
}

func refsDoc(refs []RedeemableRef) []any {
	out := make([]any, len(refs))
	for i, r := range refs {
		out[i] = map[string]any{"object": r.Object, "id": r.ID}
	}
	return out
}

// redeemableDoc is input.redeemable: the voucher, its campaign (a standalone
// voucher gets one made of its own dates) and their usage so far.
func redeemableDoc(o *Outcome, snap *snapshot, c *customers.Customer, l Local) map[string]any {
	doc := map[string]any{"object": o.Ref.Object, "id": o.Ref.ID}
	usage := map[string]any{"voucher_redemptions": int64(0)}
	if v := o.Voucher; v != nil {
		doc["active"], doc["voucher_id"] = v.Active, v.ID
		if v.HolderID != "" {
			doc["holder_id"] = v.HolderID
		}
		if v.RedemptionQuantity != nil {
			doc["quantity"] = *v.RedemptionQuantity
		}
		if v.Discount != nil {
			doc["discount"] = discountDoc(v.Discount)
		}
		if v.Type == campaigns.VoucherGift {
			gift := map[string]any{"amount": v.GiftAmount, "balance": v.GiftBalance}
			if o.Ref.Gift != nil && o.Ref.Gift.Credits > 0 {
				gift["credits"] = o.Ref.Gift.Credits // requested; none: as much as the order needs
			}
			doc["gift"] = gift
		}
		setDates(doc, v.StartDate, v.ExpirationDate)
		usage["voucher_redemptions"] = v.RedeemedQuantity
	}
	if t := o.Tier; t != nil {
		// A tier is judged by its campaign's rules and schedule and by its own:
		// its dates, days and hours are the redeemable's.
		doc["active"], doc["name"], doc["discount"] = t.Active, t.Name, discountDoc(&t.Discount)
		setDates(doc, t.StartDate, t.ExpirationDate)
		if len(t.ValidityDayOfWeek) > 0 {
			doc["validity_day_of_week"] = ints(t.ValidityDayOfWeek)
		}
		if t.ValidityHours != nil {
			doc["validity_hours"] = hoursDoc(t.ValidityHours)
		}
		doc["rules"] = rulesDoc(t.Rules)
	}
	camp := map[string]any{"id": "", "name": "", "type": "STANDALONE", "category": category(o), "metadata": map[string]any{},
		"active": true, "rules": map[string]any{}, "limits": map[string]any{}}
	if cp := o.Campaign; cp != nil {
		camp = map[string]any{"id": cp.ID, "name": cp.Name, "type": cp.CampaignType, "category": cp.Category,
			"metadata": orEmpty(cp.Metadata), "active": cp.Active, "rules": rulesDoc(cp.Rules), "limits": limitsDoc(cp.Limits)}
		setDates(camp, cp.StartDate, cp.ExpirationDate)
		if len(cp.ValidityDayOfWeek) > 0 {
			camp["validity_day_of_week"] = ints(cp.ValidityDayOfWeek)
		}
		if cp.ValidityHours != nil {
			camp["validity_hours"] = hoursDoc(cp.ValidityHours)
		}
		u := func(customer, period string) int64 { return snap.usage[usageKey{cp.ID, customer, period}] }
		usage["campaign_redemptions"] = cp.Redemptions
		usage["campaign_discount_amount"] = cp.DiscountTotal
		usage["campaign_order_amount"] = cp.OrderTotal
		usage["campaign_redemptions_today"] = u("", l.Date)
		usage["campaign_redemptions_this_month"] = u("", l.Date[:7])
		// A customer without an id yet (a source_id the tenant does not know)
		// has redeemed nothing: the counters of customer "" are the campaign's.
		if c != nil && c.ID != "" {
			usage["customer_redemptions"] = u(c.ID, "")
			usage["customer_redemptions_today"] = u(c.ID, l.Date)
			usage["customer_redemptions_this_month"] = u(c.ID, l.Date[:7])
		}
	}
	for _, k := range []string{"customer_redemptions", "customer_redemptions_today", "customer_redemptions_this_month"} {
		if _, ok := usage[k]; !ok {
			usage[k] = int64(0)
		}
	}
	if t := o.Tier; t != nil {
		// The base policy reads rules and schedule from the campaign: a tier's own
		// override its campaign's, field by field.
		rules := clone(camp["rules"].(map[string]any))
		for k, v := range rulesDoc(t.Rules) {
			rules[k] = v
		}
		camp["rules"] = rules
		for _, k := range []string{"validity_day_of_week", "validity_hours"} {
			if v, ok := doc[k]; ok {
				camp[k] = v
			}
		}
	}
	doc["campaign"], doc["usage"] = camp, usage
	return doc
}

func hoursDoc(h *campaigns.ValidityHours) map[string]any {
	daily := make([]any, len(h.Daily))
	for i, w := range h.Daily {
		daily[i] = map[string]any{"start_time": w.StartTime, "expiration_time": w.ExpirationTime, "days_of_week": ints(w.DaysOfWeek)}
	}
	return map[string]any{"daily": daily}
}

func setDates(m map[string]any, start, end *time.Time) {
	if start != nil {
		m["start_date"] = start.UTC().Format(time.RFC3339Nano)
	}
	if end != nil {
		m["expiration_date"] = end.UTC().Format(time.RFC3339Nano)
	}
}

func discountDoc(d *campaigns.Discount) map[string]any {
	m := map[string]any{"type": d.Type, "effect": d.Effect}
	if d.PercentOff != nil {
		m["percent_off_hundredths"] = int64(*d.PercentOff)
	}
	for k, v := range map[string]*int64{"amount_limit": d.AmountLimit, "amount_off": d.AmountOff, "fixed_amount": d.FixedAmount, "unit_off": d.UnitOff} {
		if v != nil {
			m[k] = *v
		}
	}
	if d.UnitType != "" {
		m["unit_type"] = d.UnitType
	}
	return m
}

func rulesDoc(r campaigns.Rules) map[string]any {
	m := map[string]any{}
	if r.MinOrderAmount != nil {
		m["min_order_amount"] = *r.MinOrderAmount
	}
	for k, v := range map[string][]string{"segments": r.Segments, "channels": r.Channels, "countries": r.Countries} {
		if len(v) > 0 {
			m[k] = strs(v)
		}
	}
	if p := r.Products; p != nil {
		pm := map[string]any{}
		if len(p.Included) > 0 {
			pm["included"] = strs(p.Included)
		}
		if len(p.Excluded) > 0 {
			pm["excluded"] = strs(p.Excluded)
		}
		m["products"] = pm
	}
	if len(r.Metadata) > 0 {
		m["metadata"] = r.Metadata
	}
	return m
}

func limitsDoc(l campaigns.Limits) map[string]any {
	m := map[string]any{}
	for k, v := range map[string]*int64{
		"total_redemptions": l.TotalRedemptions, "total_discount_amount": l.TotalDiscountAmount, "total_order_amount": l.TotalOrderAmount,
		"per_customer": l.PerCustomer, "per_customer_per_day": l.PerCustomerPerDay, "per_customer_per_month": l.PerCustomerPerMonth,
		"per_day": l.PerDay, "per_month": l.PerMonth,
	} {
		if v != nil {
			m[k] = *v
		}
	}
	return m
}

func stackingRulesDoc(r StackingRules) map[string]any {
	return map[string]any{
		"redeemables_limit": r.RedeemablesLimit, "applicable_redeemables_limit": r.ApplicableRedeemablesLimit,
		"applicable_redeemables_per_category_limit":           r.ApplicableRedeemablesPerCategoryLimit,
		"applicable_exclusive_redeemables_limit":              r.ApplicableExclusiveRedeemablesLimit,
		"applicable_exclusive_redeemables_per_category_limit": r.ApplicableExclusiveRedeemablesPerCategoryLimit,
		"exclusive_categories":                                strs(r.ExclusiveCategories), "joint_categories": strs(r.JointCategories),
		"redeemables_application_mode": r.RedeemablesApplicationMode, "redeemables_sorting_rule": r.RedeemablesSortingRule,
		"incompatible_categories": groups(r.IncompatibleCategories),
	}
}

func groups(gs [][]string) []any {
	out := make([]any, len(gs))
	for i, g := range gs {
		out[i] = strs(g)
	}
	return out
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func strs(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

func ints(v []int) []any {
	out := make([]any, len(v))
	for i, n := range v {
		out[i] = n
	}
	return out
}
