// Package redemption is the promotions engine: it resolves the redeemables of a
// request, builds the policy input, asks the policies which apply and how they
// stack, computes the discounts in order, and for redemptions writes everything in
// one transaction guarded by conditional updates of every counter.
//
// This file and calc.go are the arithmetic: normalising an order to integer minor
// units and applying discounts and gift credits to it, with Voucherify's order
// totals. They are pure functions of their input.
package redemption

import (
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Order limits.
const (
	MaxItems    = 1000
	MaxQuantity = 1_000_000
	// MaxAmount bounds every amount: 10 billion in major units of a two-decimal
	// currency, far beyond any real order, and far from int64 overflow.
	MaxAmount int64 = 1_000_000_000_000
)

// Item is one order line, Voucherify's order item. Amounts are minor units.
type Item struct {
	SKUID     string         `json:"sku_id,omitempty"`
	ProductID string         `json:"product_id,omitempty"`
	SourceID  string         `json:"source_id,omitempty"`
	Quantity  int64          `json:"quantity,omitempty"`
	Price     int64          `json:"price,omitempty" jsonschema:"description=unit price in minor units"`
	Amount    int64          `json:"amount,omitempty" jsonschema:"description=price × quantity in minor units (computed when absent)"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// Order is the order of a validation or redemption, Voucherify's order object.
type Order struct {
	ID       string         `json:"id,omitempty"`
	SourceID string         `json:"source_id,omitempty"`
	Amount   int64          `json:"amount,omitempty" jsonschema:"description=order amount in minor units (the sum of the items when absent)"`
	Currency string         `json:"currency,omitempty" jsonschema:"description=ISO 4217; when given it must be the tenant's currency"`
	Items    []Item         `json:"items,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// refersTo reports whether the item is the product or SKU named by id.
func (it Item) refersTo(id string) bool {
	return id != "" && (it.ProductID == id || it.SKUID == id || it.SourceID == id)
}

// Normalize checks the order field by field and fills computed amounts: an item's
// amount from price × quantity, the order's amount from its items. currency is the
// tenant's.
func (o *Order) Normalize(currency string) error {
	if o.Currency != "" && !strings.EqualFold(o.Currency, currency) {
		return &problem.Error{Kind: problem.KindInvalid, Key: "currency_mismatch", Message: "Currency mismatch",
			Details: fmt.Sprintf("order.currency %s is not the tenant's currency %s", o.Currency, currency), Field: "order.currency"}
	}
	if len(o.Items) > MaxItems {
		return problem.Invalidf("order.items", "order.items may hold at most %d items", MaxItems)
	}
	var sum int64
	for i := range o.Items {
		it := &o.Items[i]
		f := fmt.Sprintf("order.items[%d]", i)
		switch {
		case it.Quantity == 0:
			it.Quantity = 1
		case it.Quantity < 0 || it.Quantity > MaxQuantity:
			return problem.Invalidf(f+".quantity", "%s.quantity must be between 1 and %d", f, MaxQuantity)
		}
		if it.Price < 0 || it.Price > MaxAmount {
			return problem.Invalidf(f+".price", "%s.price must be between 0 and %d (minor units)", f, MaxAmount)
		}
		if it.Amount < 0 || it.Amount > MaxAmount {
			return problem.Invalidf(f+".amount", "%s.amount must be between 0 and %d (minor units)", f, MaxAmount)
		}
		if it.Amount == 0 && it.Price > 0 {
			hi, lo := bits.Mul64(uint64(it.Price), uint64(it.Quantity))
			if hi != 0 || lo > uint64(MaxAmount) {
				return problem.Invalidf(f+".amount", "%s: price × quantity exceeds %d (minor units)", f, MaxAmount)
			}
			it.Amount = int64(lo)
		}
		sum += it.Amount
		if sum > MaxAmount {
			return problem.Invalidf("order.items", "the items add up to more than %d (minor units)", MaxAmount)
		}
	}
	switch {
	case o.Amount < 0 || o.Amount > MaxAmount:
		return problem.Invalidf("order.amount", "order.amount must be between 0 and %d (minor units)", MaxAmount)
	case o.Amount == 0:
		o.Amount = sum
	}
	return nil
}

// mulDivRem returns a × b / d and its remainder for non-negative a, b and positive
// d, computed on 128 bits; a quotient beyond int64 is capped.
func mulDivRem(a, b, d int64) (q, r int64) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(d) {
		return math.MaxInt64, 0
	}
	uq, ur := bits.Div64(hi, lo, uint64(d))
	if uq > math.MaxInt64 {
		return math.MaxInt64, 0
	}
	return int64(uq), int64(ur)
}

// mulDiv returns a × b / d rounded half up.
func mulDiv(a, b, d int64) int64 {
	q, r := mulDivRem(a, b, d)
	if 2*r >= d && q < math.MaxInt64 {
		q++
	}
	return q
}
