package redemption

import (
	"math/bits"
	"slices"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
)

// Discount calculation modes (Punchcard's stacking setting
// discount_calculation_mode): a percentage of the order as it came in, or of what
// is left after the discounts applied before it (where the redeemable's order
// rules are judged too: see Calculation.Discounted).
const (
	CalcInitial    = "INITIAL"
	CalcDiscounted = "DISCOUNTED"
)

// Calculation is an order with the discounts applied to it so far, in order. The
// zero value is not usable; start with NewCalculation.
type Calculation struct {
	order     *Order
	initial   []int64 // item amounts as they came in
	remaining []int64 // item amounts after item discounts
	touched   []bool  // items that some redeemable discounted
	itemsDisc int64
	orderDisc int64 // order-level discounts and gift credits
	gifts     int64 // the gift credits of orderDisc: a payment, not a discount
	mode      string
	once      bool // redeemables_products_application_mode ONCE: one discount per item
}

// NewCalculation starts a calculation over a normalised order.
func NewCalculation(o *Order, mode string, once bool) *Calculation {
	c := &Calculation{order: o, mode: mode, once: once,
		initial: make([]int64, len(o.Items)), remaining: make([]int64, len(o.Items)), touched: make([]bool, len(o.Items))}
	for i, it := range o.Items {
		c.initial[i], c.remaining[i] = it.Amount, it.Amount
	}
	return c
}

// clone is a copy of c that applies discounts without changing c.
func (c *Calculation) clone() *Calculation {
	cp := *c
	cp.remaining, cp.touched = slices.Clone(c.remaining), slices.Clone(c.touched)
	return &cp
}

// Applied is what one redeemable did to the order. Amounts are minor units.
type Applied struct {
	OrderDiscount int64          `json:"order_discount"`
	ItemDiscounts []ItemDiscount `json:"item_discounts,omitempty"`
	GiftCredits   int64          `json:"gift_credits,omitempty"`
	AddedItems    []Item         `json:"added_items,omitempty"` // free items the order lacked (UNIT, ADD_MISSING_ITEMS)
}

// ItemDiscount is a discount on one order line.
type ItemDiscount struct {
	Index  int   `json:"index"`
	Amount int64 `json:"amount"`
}

// Total is everything the redeemable took off the order.
func (a Applied) Total() int64 {
	t := a.OrderDiscount + a.GiftCredits
	for _, d := range a.ItemDiscounts {
		t += d.Amount
	}
	return t
}

// None reports whether the redeemable had no effect on the order.
func (a Applied) None() bool { return a.Total() == 0 && len(a.AddedItems) == 0 }

// left is what the customer still pays.
func (c *Calculation) left() int64 {
	return max(0, c.order.Amount-c.itemsDisc-c.orderDisc)
}

// ApplyDiscount applies one discount. applicable says which items an item-level
// effect may touch (nil: every item).
func (c *Calculation) ApplyDiscount(d campaigns.Discount, applicable func(Item) bool) Applied {
	var a Applied
	items := c.items(applicable)
	switch d.Effect {
	case campaigns.EffectApplyToOrder, "":
		a.OrderDiscount = c.orderDiscount(d)
	case campaigns.EffectApplyToItems:
		a.ItemDiscounts = c.perItem(d, items)
	case campaigns.EffectApplyToItemsByQuantity:
		if d.AmountOff != nil {
			for _, i := range items {
				a.ItemDiscounts = append(a.ItemDiscounts, ItemDiscount{i, mulCap(*d.AmountOff, c.order.Items[i].Quantity)})
			}
		}
	case campaigns.EffectApplyToItemsProportionally, campaigns.EffectApplyToItemsProportionallyByQty:
		if d.AmountOff != nil {
			a.ItemDiscounts = c.proportional(*d.AmountOff, items, d.Effect == campaigns.EffectApplyToItemsProportionallyByQty)
		}
	case campaigns.EffectAddMissingItems, campaigns.EffectAddNewItems:
		a = c.freeUnits(d)
	}
	// Item discounts never exceed what is left of an item, nor the order.
	kept := a.ItemDiscounts[:0]
	for _, id := range a.ItemDiscounts {
		amt := min(id.Amount, c.remaining[id.Index], c.left())
		if amt <= 0 {
			continue
		}
		c.remaining[id.Index] -= amt
		c.itemsDisc += amt
		c.touched[id.Index] = true
		kept = append(kept, ItemDiscount{id.Index, amt})
	}
	a.ItemDiscounts = kept
	a.OrderDiscount = min(a.OrderDiscount, c.left())
	c.orderDisc += a.OrderDiscount
	return a
}

// ApplyGift uses up to credits (0: as much as possible) of a gift card's balance to
// pay for what is left of the order.
func (c *Calculation) ApplyGift(balance, credits int64) Applied {
	use := balance
	if credits > 0 {
		use = min(use, credits)
	}
	use = max(0, min(use, c.left()))
	c.orderDisc += use
	c.gifts += use
	return Applied{GiftCredits: use}
}

// Discounted is the order as the discounts applied so far leave it, for the
// rules of the redeemables after them when the calculation mode is DISCOUNTED
// (nil otherwise, or while nothing is discounted): its amount less every
// discount, its lines less theirs. Gift credits pay for the order; they do not
// make it smaller (and the engine applies gift cards after every discount).
func (c *Calculation) Discounted() *Order {
	disc := c.itemsDisc + c.orderDisc - c.gifts
	if c.mode != CalcDiscounted || disc == 0 {
		return nil
	}
	o := *c.order
	o.Amount = max(0, o.Amount-disc)
	o.Items = slices.Clone(o.Items)
	for i := range o.Items {
		o.Items[i].Amount = c.remaining[i]
	}
	return &o
}

func (c *Calculation) items(applicable func(Item) bool) []int {
	var out []int
	for i, it := range c.order.Items {
		if c.once && c.touched[i] {
			continue
		}
		if applicable == nil || applicable(it) {
			out = append(out, i)
		}
	}
	return out
}

func (c *Calculation) base(initial, current int64) int64 {
	if c.mode == CalcInitial {
		return initial
	}
	return current
}

func (c *Calculation) orderDiscount(d campaigns.Discount) int64 {
	switch d.Type {
	case campaigns.DiscountPercent:
		v := mulDiv(c.base(c.order.Amount, c.left()), int64(*d.PercentOff), 100_00)
		if d.AmountLimit != nil {
			v = min(v, *d.AmountLimit)
		}
		return v
	case campaigns.DiscountAmount:
		return *d.AmountOff
	case campaigns.DiscountFixed:
		return max(0, c.left()-*d.FixedAmount)
	}
	return 0
}

func (c *Calculation) perItem(d campaigns.Discount, items []int) []ItemDiscount {
	var out []ItemDiscount
	limit := int64(-1)
	if d.Type == campaigns.DiscountPercent && d.AmountLimit != nil {
		limit = *d.AmountLimit
	}
	left := c.left()
	for _, i := range items {
		var v int64
		switch d.Type {
		case campaigns.DiscountPercent:
			v = mulDiv(c.base(c.initial[i], c.remaining[i]), int64(*d.PercentOff), 100_00)
		case campaigns.DiscountAmount:
			v = *d.AmountOff
		case campaigns.DiscountFixed:
			v = max(0, c.remaining[i]-mulCap(*d.FixedAmount, c.order.Items[i].Quantity))
		}
		// What ApplyDiscount will give: no more than is left of the item and
		// of the order, so the amount limit is spent only on what is given.
		v = min(v, c.remaining[i], left)
		left -= v
		if limit >= 0 {
			v = min(v, limit)
			limit -= v
		}
		if v > 0 {
			out = append(out, ItemDiscount{i, v})
		}
	}
	return out
}

// proportional splits amount over the items in proportion to what is left of them
// (or to their quantities), by largest remainder, so the parts add up exactly. A
// part larger than what is left of its line is cut to it and the rest split
// again over the lines that have room, so the amount is given in full while the
// lines can take it.
func (c *Calculation) proportional(amount int64, items []int, byQuantity bool) []ItemDiscount {
	amount = min(amount, c.left())
	given := make(map[int]int64, len(items))
	open := items
	for amount > 0 && len(open) > 0 {
		parts := c.split(amount, open, byQuantity)
		var next []int
		var round int64
		for k, i := range open {
			v := min(parts[k], c.remaining[i]-given[i])
			given[i] += v
			round += v
			if c.remaining[i] > given[i] {
				next = append(next, i)
			}
		}
		amount -= round
		if round == 0 || len(next) == len(open) {
			break
		}
		open = next
	}
	var out []ItemDiscount
	for _, i := range items {
		if given[i] > 0 {
			out = append(out, ItemDiscount{i, given[i]})
		}
	}
	return out
}

// split divides amount over items in proportion to what is left of them (or to
// their quantities) by largest remainder: the parts add up to amount exactly.
func (c *Calculation) split(amount int64, items []int, byQuantity bool) []int64 {
	weights := make([]int64, len(items))
	var total int64
	for k, i := range items {
		weights[k] = c.remaining[i]
		if byQuantity {
			weights[k] = c.order.Items[i].Quantity
		}
		total += weights[k]
	}
	out := make([]int64, len(items))
	if total == 0 {
		return out
	}
	var given int64
	rems := make([]int64, len(items))
	for k := range items {
		q, r := mulDivRem(amount, weights[k], total)
		out[k] = q
		rems[k] = r
		given += q
	}
	for given < amount {
		best := -1
		for k := range rems {
			if rems[k] >= 0 && (best < 0 || rems[k] > rems[best]) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		out[best]++
		rems[best] = -1
		given++
	}
	return out
}

// freeUnits gives unit_off units of the product or SKU named by unit_type: the
// matching lines get that many units free; with ADD_MISSING_ITEMS an order that
// lacks the product gets it added (at the price the order states, else 0, for the
// till to hand out); ADD_NEW_ITEMS always adds the units as a new line.
func (c *Calculation) freeUnits(d campaigns.Discount) Applied {
	var a Applied
	units := *d.UnitOff
	// The unit is missing when no line has it, whether or not a line that has
	// it is left out here (ONCE: already discounted).
	isUnit := func(it Item) bool { return it.refersTo(d.UnitType) }
	missing := !slices.ContainsFunc(c.order.Items, isUnit)
	if d.Effect == campaigns.EffectAddMissingItems {
		for _, i := range c.items(isUnit) {
			if units == 0 {
				break
			}
			it := c.order.Items[i]
			n := min(units, it.Quantity)
			units -= n
			a.ItemDiscounts = append(a.ItemDiscounts, ItemDiscount{i, unitsValue(it, n)})
		}
	}
	if units > 0 && (d.Effect == campaigns.EffectAddNewItems || missing) {
		a.AddedItems = append(a.AddedItems, Item{ProductID: d.UnitType, Quantity: units})
	}
	return a
}

// Totals are Voucherify's order totals after the discounts applied so far. Every
// discount here is applied by this request, so the applied totals equal the totals.
type Totals struct {
	Amount                     int64 `json:"amount"`
	DiscountAmount             int64 `json:"discount_amount"`
	ItemsDiscountAmount        int64 `json:"items_discount_amount"`
	TotalDiscountAmount        int64 `json:"total_discount_amount"`
	TotalAmount                int64 `json:"total_amount"`
	AppliedDiscountAmount      int64 `json:"applied_discount_amount"`
	ItemsAppliedDiscountAmount int64 `json:"items_applied_discount_amount"`
	TotalAppliedDiscountAmount int64 `json:"total_applied_discount_amount"`
}

// Totals returns the order totals.
func (c *Calculation) Totals() Totals { return totals(c.order.Amount, c.orderDisc, c.itemsDisc) }

// Totals are the totals of an order of amount with this effect alone on it (gift
// credits count as order-level discount, as in a Calculation).
func (a Applied) Totals(amount int64) Totals {
	order := a.OrderDiscount + a.GiftCredits
	return totals(amount, order, a.Total()-order)
}

func totals(amount, orderDisc, itemsDisc int64) Totals {
	total := orderDisc + itemsDisc
	return Totals{
		Amount: amount, DiscountAmount: orderDisc, ItemsDiscountAmount: itemsDisc,
		TotalDiscountAmount: total, TotalAmount: amount - total,
		AppliedDiscountAmount: orderDisc, ItemsAppliedDiscountAmount: itemsDisc, TotalAppliedDiscountAmount: total,
	}
}

// mulCap multiplies two non-negative amounts, capped at MaxAmount.
// unitsValue is what n of it's units cost: n × its price, or, for a line that
// states only its amount, n/quantity of the amount (rounded down; all of it for
// every unit).
func unitsValue(it Item, n int64) int64 {
	if it.Price > 0 || it.Quantity <= 0 {
		return mulCap(it.Price, n)
	}
	hi, lo := bits.Mul64(uint64(it.Amount), uint64(n))
	v, _ := bits.Div64(hi, lo, uint64(it.Quantity)) // n ≤ quantity: the quotient fits
	return int64(v)
}

func mulCap(a, b int64) int64 {
	if a != 0 && b > MaxAmount/a {
		return MaxAmount
	}
	return a * b
}
