package campaigns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Discount types, Voucherify's.
const (
	DiscountPercent = "PERCENT"
	DiscountAmount  = "AMOUNT"
	DiscountFixed   = "FIXED"
	DiscountUnit    = "UNIT"
)

// Discount effects, Voucherify's: where a discount applies.
const (
	EffectApplyToOrder                          = "APPLY_TO_ORDER"
	EffectApplyToItems                          = "APPLY_TO_ITEMS"
	EffectApplyToItemsProportionally            = "APPLY_TO_ITEMS_PROPORTIONALLY"
	EffectApplyToItemsProportionallyByQty       = "APPLY_TO_ITEMS_PROPORTIONALLY_BY_QUANTITY"
	EffectApplyToItemsByQuantity                = "APPLY_TO_ITEMS_BY_QUANTITY"
	EffectAddMissingItems                       = "ADD_MISSING_ITEMS"
	EffectAddNewItems                           = "ADD_NEW_ITEMS"
	defaultEffectForOrderDiscounts              = EffectApplyToOrder
	defaultEffectForUnitDiscounts               = EffectAddMissingItems
	maxMoney                              int64 = 1_000_000_000_000 // 10 billion in major units: far beyond any real order
)

// effects lists the effects each discount type accepts.
var effects = map[string][]string{
	DiscountPercent: {EffectApplyToOrder, EffectApplyToItems},
	DiscountAmount:  {EffectApplyToOrder, EffectApplyToItems, EffectApplyToItemsProportionally, EffectApplyToItemsProportionallyByQty, EffectApplyToItemsByQuantity},
	DiscountFixed:   {EffectApplyToOrder, EffectApplyToItems},
	DiscountUnit:    {EffectAddMissingItems, EffectAddNewItems},
}

// Percent is a percentage with two decimals, held exactly as hundredths of a percent
// (12.5% is 1250). JSON carries it as Voucherify does, a number such as 12.5.
type Percent int64

// MarshalJSON writes the percentage as a JSON number with at most two decimals.
func (p Percent) MarshalJSON() ([]byte, error) {
	s := strconv.FormatInt(int64(p)/100, 10)
	if frac := int64(p) % 100; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%02d", frac), "0")
	}
	return []byte(s), nil
}

// JSONDescription says what JSON a Percent takes, for error messages.
func (Percent) JSONDescription() string { return "a non-negative number with at most two decimals" }

// UnmarshalJSON reads a JSON number with at most two decimals, exactly. A value
// that is not one is a *json.UnmarshalTypeError, so decoders name the field.
func (p *Percent) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: "number " + s, Type: reflect.TypeFor[Percent]()}
	if !json.Valid(b) || strings.ContainsAny(s, `"eE+-tfn[{`) {
		bad.Value = s
		return bad
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return bad
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/1000 {
		return bad
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	*p = Percent(w*100 + f)
	return nil
}

// Discount is what a discount voucher or promotion tier takes off, in Voucherify's
// shape. Money is in minor units of the tenant's currency.
type Discount struct {
	Type        string   `json:"type" jsonschema:"enum=PERCENT,enum=AMOUNT,enum=FIXED,enum=UNIT"`
	PercentOff  *Percent `json:"percent_off,omitempty" jsonschema:"description=PERCENT: the percentage off (up to two decimals)"`
	AmountLimit *int64   `json:"amount_limit,omitempty" jsonschema:"description=PERCENT: the largest discount in minor units"`
	AmountOff   *int64   `json:"amount_off,omitempty" jsonschema:"description=AMOUNT: the amount off in minor units"`
	FixedAmount *int64   `json:"fixed_amount,omitempty" jsonschema:"description=FIXED: the price to pay in minor units"`
	UnitOff     *int64   `json:"unit_off,omitempty" jsonschema:"description=UNIT: how many units are free"`
	UnitType    string   `json:"unit_type,omitempty" jsonschema:"description=UNIT: the product or SKU id given for free"`
	Effect      string   `json:"effect,omitempty"`
}

// normalize checks a discount field by field and fills the default effect. field is
// the JSON path of the discount in the request, for error messages.
func (d *Discount) normalize(field string) error {
	allowed, ok := effects[d.Type]
	if !ok {
		return problem.Invalidf(field+".type", "%s.type must be one of PERCENT, AMOUNT, FIXED, UNIT", field)
	}
	only := func(present bool, name string) error {
		if present {
			return problem.Invalidf(field+"."+name, "%s.%s does not apply to a %s discount", field, name, d.Type)
		}
		return nil
	}
	money := func(v *int64, name string, required bool, min int64) error {
		switch {
		case v == nil && required:
			return problem.Invalidf(field+"."+name, "%s.%s is required for a %s discount", field, name, d.Type)
		case v != nil && (*v < min || *v > maxMoney):
			return problem.Invalidf(field+"."+name, "%s.%s must be between %d and %d (minor units)", field, name, min, maxMoney)
		}
		return nil
	}
	var err error
	switch d.Type {
	case DiscountPercent:
		switch {
		case d.PercentOff == nil:
			err = problem.Invalidf(field+".percent_off", "%s.percent_off is required for a PERCENT discount", field)
		case *d.PercentOff <= 0 || *d.PercentOff > 100_00:
			err = problem.Invalidf(field+".percent_off", "%s.percent_off must be more than 0 and at most 100", field)
		}
		err = firstErr(err, money(d.AmountLimit, "amount_limit", false, 0),
			only(d.AmountOff != nil, "amount_off"), only(d.FixedAmount != nil, "fixed_amount"), only(d.UnitOff != nil, "unit_off"))
	case DiscountAmount:
		err = firstErr(money(d.AmountOff, "amount_off", true, 1),
			only(d.PercentOff != nil, "percent_off"), only(d.AmountLimit != nil, "amount_limit"), only(d.FixedAmount != nil, "fixed_amount"), only(d.UnitOff != nil, "unit_off"))
	case DiscountFixed:
		err = firstErr(money(d.FixedAmount, "fixed_amount", true, 0),
			only(d.PercentOff != nil, "percent_off"), only(d.AmountLimit != nil, "amount_limit"), only(d.AmountOff != nil, "amount_off"), only(d.UnitOff != nil, "unit_off"))
	case DiscountUnit:
		switch {
		case d.UnitOff == nil:
			err = problem.Invalidf(field+".unit_off", "%s.unit_off is required for a UNIT discount", field)
		case *d.UnitOff < 1 || *d.UnitOff > 1000:
			err = problem.Invalidf(field+".unit_off", "%s.unit_off must be between 1 and 1000", field)
		case strings.TrimSpace(d.UnitType) == "":
			err = problem.Invalidf(field+".unit_type", "%s.unit_type (the product or SKU given for free) is required for a UNIT discount", field)
		}
		err = firstErr(err, only(d.PercentOff != nil, "percent_off"), only(d.AmountLimit != nil, "amount_limit"), only(d.AmountOff != nil, "amount_off"), only(d.FixedAmount != nil, "fixed_amount"))
	}
	if err != nil {
		return err
	}
	if d.Effect == "" {
		d.Effect = defaultEffectForOrderDiscounts
		if d.Type == DiscountUnit {
			d.Effect = defaultEffectForUnitDiscounts
		}
	}
	for _, e := range allowed {
		if e == d.Effect {
			return nil
		}
	}
	return problem.Invalidf(field+".effect", "%s.effect of a %s discount must be one of %s", field, d.Type, strings.Join(allowed, ", "))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
