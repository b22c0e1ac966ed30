package campaigns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Input limits.
const (
	MaxName            = 200
	MaxDescription     = 2000
	MaxCategory        = 100
	MaxRuleValues      = 1000
	MaxSyncGeneration  = 10_000    // vouchers generated inside the request
	MaxAsyncGeneration = 1_000_000 // vouchers one asynchronous action generates
)

// CampaignInput is the body of POST /v1/campaigns, Voucherify's create-campaign
// object with Punchcard's limits and rules.
type CampaignInput struct {
	Name              string           `json:"name"`
	Description       string           `json:"description,omitempty"`
	CampaignType      string           `json:"campaign_type" jsonschema:"enum=DISCOUNT_COUPONS,enum=GIFT_VOUCHERS,enum=PROMOTION"`
	Type              string           `json:"type,omitempty" jsonschema:"enum=AUTO_UPDATE,enum=STATIC"`
	Voucher           *VoucherTemplate `json:"voucher"`
	VouchersCount     int64            `json:"vouchers_count,omitempty"`
	StartDate         *time.Time       `json:"start_date,omitempty"`
	ExpirationDate    *time.Time       `json:"expiration_date,omitempty"`
	ValidityDayOfWeek []int            `json:"validity_day_of_week,omitempty"`
	ValidityHours     *ValidityHours   `json:"validity_hours,omitempty"`
	Category          string           `json:"category,omitempty"`
	Metadata          map[string]any   `json:"metadata,omitempty"`
	Limits            *Limits          `json:"limits,omitempty"`
	Rules             *Rules           `json:"rules,omitempty"`
	Promotion         *PromotionInput  `json:"promotion,omitempty" jsonschema:"description=PROMOTION campaigns: their tiers"`

	// ValidityTimeframe (Voucherify's recurring windows) is not modelled:
	// sent with a value it is refused (see notSupported).
	ValidityTimeframe json.RawMessage `json:"validity_timeframe,omitempty" jsonschema:"-"`
}

// notSupported is a Voucherify field Punchcard does not model, with what to do
// instead. Sent with a value (null is no value), it is refused with a 400 naming
// it: ignoring it would make what is created more permissive than asked (a code
// valid on every day, or live when it was to start disabled).
type notSupported struct {
	name    string
	value   json.RawMessage
	instead string
}

// Sent reports whether a field read as raw JSON was sent with a value: not
// absent, and not null.
func Sent(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && !bytes.Equal(v, []byte("null"))
}

// refuseUnsupported refuses the first of fields sent with a value, its name
// prefixed with prefix. [] and {} are no value either: they restrict nothing.
func refuseUnsupported(prefix string, fields ...notSupported) error {
	for _, f := range fields {
		if v := string(bytes.Join(bytes.Fields(f.value), nil)); Sent(f.value) && v != "[]" && v != "{}" {
			return problem.Invalidf(prefix+f.name, "%s%s is not supported: %s", prefix, f.name, f.instead)
		}
	}
	return nil
}

var clock = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// campaign checks the input field by field and returns the campaign it describes
// (without id, tenant or timestamps).
func (in CampaignInput) campaign() (Campaign, error) {
	if err := refuseUnsupported("", notSupported{"validity_timeframe", in.ValidityTimeframe,
		"use validity_day_of_week and validity_hours (windows in the tenant's time zone)"}); err != nil {
		return Campaign{}, err
	}
	c := Campaign{
		Name: strings.TrimSpace(in.Name), Description: in.Description, CampaignType: in.CampaignType,
		Type: in.Type, Category: strings.TrimSpace(in.Category), Active: true,
		StartDate: utc(in.StartDate), ExpirationDate: utc(in.ExpirationDate),
		ValidityDayOfWeek: in.ValidityDayOfWeek, ValidityHours: in.ValidityHours,
		Metadata: in.Metadata, VouchersCount: in.VouchersCount, GenerationStatus: GenerationDone,
	}
	switch {
	case c.Name == "":
		return c, problem.Invalid("name", "name is required")
	case utf8.RuneCountInString(c.Name) > MaxName:
		return c, problem.Invalidf("name", "name must be at most %d characters", MaxName)
	case ids.HasPrefix(c.Name, idCampaign):
		// /v1/campaigns/{id or name} would read it as an id, and never find it.
		return c, problem.Invalid("name", "name must not have the form of a campaign id")
	case utf8.RuneCountInString(c.Description) > MaxDescription:
		return c, problem.Invalidf("description", "description must be at most %d characters", MaxDescription)
	case utf8.RuneCountInString(c.Category) > MaxCategory:
		return c, problem.Invalidf("category", "category must be at most %d characters", MaxCategory)
	}
	if c.Type == "" {
		c.Type = "AUTO_UPDATE"
	}
	if c.Type != "AUTO_UPDATE" && c.Type != "STATIC" {
		return c, problem.Invalid("type", "type must be AUTO_UPDATE or STATIC")
	}
	if c.CampaignType == TypePromotion {
		if in.Voucher != nil {
			return c, problem.Invalid("voucher", "a PROMOTION campaign has tiers, not vouchers")
		}
		if in.VouchersCount != 0 {
			return c, problem.Invalid("vouchers_count", "a PROMOTION campaign has no codes")
		}
		in.Voucher = &VoucherTemplate{}
	}
	if in.Voucher == nil {
		return c, problem.Invalid("voucher", "voucher is required: it says what each code grants")
	}
	c.Voucher = *in.Voucher
	switch c.CampaignType {
	case TypePromotion:
	case TypeDiscountCoupons:
		if c.Voucher.Type == "" {
			c.Voucher.Type = VoucherDiscount
		}
		if c.Voucher.Type != VoucherDiscount {
			return c, problem.Invalid("voucher.type", "voucher.type of a DISCOUNT_COUPONS campaign must be DISCOUNT_VOUCHER")
		}
		if c.Voucher.Discount == nil {
			return c, problem.Invalid("voucher.discount", "voucher.discount is required for DISCOUNT_COUPONS")
		}
		if c.Voucher.Gift != nil {
			return c, problem.Invalid("voucher.gift", "voucher.gift does not apply to DISCOUNT_COUPONS")
		}
		if err := c.Voucher.Discount.normalize("voucher.discount"); err != nil {
			return c, err
		}
	case TypeGiftVouchers:
		if c.Voucher.Type == "" {
			c.Voucher.Type = VoucherGift
		}
		if c.Voucher.Type != VoucherGift {
			return c, problem.Invalid("voucher.type", "voucher.type of a GIFT_VOUCHERS campaign must be GIFT_VOUCHER")
		}
		if c.Voucher.Discount != nil {
			return c, problem.Invalid("voucher.discount", "voucher.discount does not apply to GIFT_VOUCHERS")
		}
		if err := c.Voucher.Gift.normalize("voucher.gift"); err != nil {
			return c, err
		}
	case "":
		return c, problem.Invalid("campaign_type", "campaign_type is required")
	default:
		return c, problem.Invalid("campaign_type", "campaign_type must be DISCOUNT_COUPONS, GIFT_VOUCHERS or PROMOTION")
	}
	if q := c.Voucher.Redemption; q != nil && q.Quantity != nil && *q.Quantity < 1 {
		return c, problem.Invalid("voucher.redemption.quantity", "voucher.redemption.quantity must be at least 1, or null for no limit")
	}
	if c.CampaignType != TypePromotion {
		if err := c.Voucher.CodeConfig.normalize("voucher.code_config"); err != nil {
			return c, err
		}
	} else if in.Promotion == nil {
		return c, problem.Invalid("promotion.tiers", "a PROMOTION campaign needs promotion.tiers with at least one tier")
	}
	switch {
	case c.VouchersCount < 0:
		return c, problem.Invalid("vouchers_count", "vouchers_count must not be negative")
	case c.VouchersCount > MaxAsyncGeneration:
		return c, problem.Invalidf("vouchers_count", "vouchers_count must be at most %d; add more codes with POST /v1/campaigns/{id}/vouchers", MaxAsyncGeneration)
	}
	if err := c.Voucher.CodeConfig.checkCapacity("voucher.code_config", c.VouchersCount); err != nil {
		return c, err
	}
	if c.StartDate != nil && c.ExpirationDate != nil && !c.ExpirationDate.After(*c.StartDate) {
		return c, problem.Invalid("expiration_date", "expiration_date must be after start_date")
	}
	if err := checkSchedule("", c.ValidityDayOfWeek, c.ValidityHours); err != nil {
		return c, err
	}
	if in.Limits != nil {
		c.Limits = *in.Limits
	}
	if err := c.Limits.check(); err != nil {
		return c, err
	}
	if in.Rules != nil {
		c.Rules = *in.Rules
	}
	if err := c.Rules.check(); err != nil {
		return c, err
	}
	if err := metadata.Check("metadata", c.Metadata); err != nil {
		return c, err
	}
	return c, nil
}

func (g *Gift) normalize(field string) error {
	switch {
	case g == nil:
		return problem.Invalidf(field, "%s is required for gift vouchers", field)
	case g.Amount < 1 || g.Amount > maxMoney:
		return problem.Invalidf(field+".amount", "%s.amount must be between 1 and %d (minor units)", field, maxMoney)
	case g.Effect == "":
		g.Effect = EffectApplyToOrder
	case g.Effect != EffectApplyToOrder && g.Effect != EffectApplyToItems:
		return problem.Invalidf(field+".effect", "%s.effect must be APPLY_TO_ORDER or APPLY_TO_ITEMS", field)
	}
	return nil
}

// checkSchedule checks the days and daily windows of a campaign or tier, the
// fields named with prefix ("" or "promotion.tiers[2]."). A window whose
// expiration_time is before its start_time runs past midnight (22:00–02:00), and
// one that ends at 00:00 runs until midnight; it belongs to the day it starts on.
func checkSchedule(prefix string, days []int, hours *ValidityHours) error {
	checkDays := func(field string, ds []int) error {
		for _, d := range ds {
			if d < 0 || d > 6 {
				return problem.Invalidf(field, "%s holds days 0 (Sunday) to 6 (Saturday)", field)
			}
		}
		return nil
	}
	if err := checkDays(prefix+"validity_day_of_week", days); err != nil {
		return err
	}
	if hours == nil {
		return nil
	}
	if len(hours.Daily) == 0 || len(hours.Daily) > 50 {
		return problem.Invalidf(prefix+"validity_hours.daily", "%svalidity_hours.daily must hold between 1 and 50 windows", prefix)
	}
	for i, w := range hours.Daily {
		f := fmt.Sprintf("%svalidity_hours.daily[%d]", prefix, i)
		switch {
		case !clock.MatchString(w.StartTime):
			return problem.Invalidf(f+".start_time", "%s.start_time must be HH:MM (24-hour clock)", f)
		case !clock.MatchString(w.ExpirationTime):
			return problem.Invalidf(f+".expiration_time", "%s.expiration_time must be HH:MM (24-hour clock; 00:00 ends the window at midnight)", f)
		case w.ExpirationTime == w.StartTime:
			return problem.Invalidf(f+".expiration_time", "%s.expiration_time must differ from start_time (one before it runs past midnight)", f)
		case len(w.DaysOfWeek) == 0:
			return problem.Invalidf(f+".days_of_week", "%s.days_of_week must name at least one day", f)
		}
		if err := checkDays(f+".days_of_week", w.DaysOfWeek); err != nil {
			return err
		}
	}
	return nil
}

func (l Limits) check() error {
	for _, f := range []struct {
		name string
		v    *int64
	}{
		{"total_redemptions", l.TotalRedemptions}, {"total_discount_amount", l.TotalDiscountAmount},
		{"total_order_amount", l.TotalOrderAmount}, {"per_customer", l.PerCustomer},
		{"per_customer_per_day", l.PerCustomerPerDay}, {"per_customer_per_month", l.PerCustomerPerMonth},
		{"per_day", l.PerDay}, {"per_month", l.PerMonth},
	} {
		if f.v != nil && (*f.v < 1 || *f.v > maxMoney) {
			return problem.Invalidf("limits."+f.name, "limits.%s must be between 1 and %d", f.name, maxMoney)
		}
	}
	return nil
}

func (r Rules) check() error {
	if r.MinOrderAmount != nil && (*r.MinOrderAmount < 0 || *r.MinOrderAmount > maxMoney) {
		return problem.Invalidf("rules.min_order_amount", "rules.min_order_amount must be between 0 and %d (minor units)", maxMoney)
	}
	lists := []struct {
		name string
		v    []string
	}{{"segments", r.Segments}, {"channels", r.Channels}, {"countries", r.Countries}}
	if r.Products != nil {
		lists = append(lists, struct {
			name string
			v    []string
		}{"products.included", r.Products.Included}, struct {
			name string
			v    []string
		}{"products.excluded", r.Products.Excluded})
	}
	for _, l := range lists {
		if len(l.v) > MaxRuleValues {
			return problem.Invalidf("rules."+l.name, "rules.%s may hold at most %d values", l.name, MaxRuleValues)
		}
		if slices.ContainsFunc(l.v, func(s string) bool { return strings.TrimSpace(s) == "" || strings.ContainsRune(s, 0) }) {
			return problem.Invalidf("rules."+l.name, "rules.%s must not hold empty values", l.name)
		}
	}
	return metadata.Check("rules.metadata", r.Metadata)
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}
