package redemption

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func i64(v int64) *int64 { return &v }

func pct(p int64) *campaigns.Percent { v := campaigns.Percent(p); return &v }

func percent(p int64, effect string) campaigns.Discount {
	return campaigns.Discount{Type: campaigns.DiscountPercent, PercentOff: pct(p), Effect: effect}
}

func order(t *testing.T, amount int64, items ...Item) *Order {
	t.Helper()
	o := &Order{Amount: amount, Items: items}
	if err := o.Normalize("EUR"); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOrderDiscounts(t *testing.T) {
	limited := percent(15_00, campaigns.EffectApplyToOrder)
	limited.AmountLimit = i64(1000)
	cases := []struct {
		name      string
		discount  campaigns.Discount
		amount    int64
		want      int64
		wantTotal int64
	}{
		{"15% of 100.00", percent(15_00, campaigns.EffectApplyToOrder), 10000, 1500, 8500},
		{"15% capped at 10.00", limited, 10000, 1000, 9000},
		{"12.5% rounds half up", percent(12_50, campaigns.EffectApplyToOrder), 1004, 126, 878},
		{"5.00 off", campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(500), Effect: campaigns.EffectApplyToOrder}, 10000, 500, 9500},
		{"5.00 off a 3.00 order", campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(500), Effect: campaigns.EffectApplyToOrder}, 300, 300, 0},
		{"fixed price 70.00", campaigns.Discount{Type: campaigns.DiscountFixed, FixedAmount: i64(7000), Effect: campaigns.EffectApplyToOrder}, 10000, 3000, 7000},
		{"fixed price above the order", campaigns.Discount{Type: campaigns.DiscountFixed, FixedAmount: i64(20000), Effect: campaigns.EffectApplyToOrder}, 10000, 0, 10000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calc := NewCalculation(order(t, c.amount), CalcDiscounted, false)
			a := calc.ApplyDiscount(c.discount, nil)
			tot := calc.Totals()
			if a.Total() != c.want || tot.TotalAmount != c.wantTotal || tot.DiscountAmount != c.want || tot.TotalDiscountAmount != c.want {
				t.Fatalf("applied %+v, totals %+v; want discount %d, total %d", a, tot, c.want, c.wantTotal)
			}
		})
	}
}

func TestStackingCalculationModes(t *testing.T) {
	for mode, want := range map[string]int64{CalcDiscounted: 1500 + 1700, CalcInitial: 1500 + 2000} {
		calc := NewCalculation(order(t, 10000), mode, false)
		calc.ApplyDiscount(percent(15_00, campaigns.EffectApplyToOrder), nil)
		calc.ApplyDiscount(percent(20_00, campaigns.EffectApplyToOrder), nil)
		if got := calc.Totals().TotalDiscountAmount; got != want {
			t.Errorf("%s: 15%% then 20%% of 100.00 = %d, want %d", mode, got, want)
		}
	}
}

func TestItemDiscounts(t *testing.T) {
	items := []Item{{ProductID: "shoes", Price: 5000, Quantity: 2}, {ProductID: "socks", Price: 500, Quantity: 4}, {SKUID: "hat-red", Price: 2000}}
	onlyShoes := func(it Item) bool { return it.refersTo("shoes") }

	calc := NewCalculation(order(t, 0, items...), CalcDiscounted, false)
	a := calc.ApplyDiscount(percent(50_00, campaigns.EffectApplyToItems), onlyShoes)
	if len(a.ItemDiscounts) != 1 || a.ItemDiscounts[0] != (ItemDiscount{0, 5000}) {
		t.Fatalf("50%% off shoes: %+v", a)
	}
	tot := calc.Totals()
	if tot.Amount != 14000 || tot.ItemsDiscountAmount != 5000 || tot.DiscountAmount != 0 || tot.TotalAmount != 9000 {
		t.Fatalf("totals %+v", tot)
	}

	calc = NewCalculation(order(t, 0, items...), CalcDiscounted, false)
	a = calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(1000), Effect: campaigns.EffectApplyToItemsProportionally}, nil)
	// 10.00 over what is left of 100.00, 20.00 and 20.00: 7.14, 1.43, 1.43 by largest remainder.
	if a.Total() != 1000 || a.ItemDiscounts[0].Amount != 714 || a.ItemDiscounts[1].Amount+a.ItemDiscounts[2].Amount != 286 {
		t.Fatalf("proportional: %+v", a)
	}

	// By quantity, one unit each: 5.00 and 5.00, but the cheap line has 1.00 to
	// give; the other 4.00 go to the line with room, so 10.00 come off in full.
	calc = NewCalculation(order(t, 0, Item{ProductID: "pin", Quantity: 1, Amount: 100}, Item{ProductID: "coat", Quantity: 1, Amount: 5000}), CalcDiscounted, false)
	a = calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(1000), Effect: campaigns.EffectApplyToItemsProportionallyByQty}, nil)
	if a.Total() != 1000 || len(a.ItemDiscounts) != 2 || a.ItemDiscounts[0].Amount != 100 || a.ItemDiscounts[1].Amount != 900 {
		t.Fatalf("proportional by quantity, capped by a line: %+v", a)
	}
	// More than the lines hold: each gives all it has.
	calc = NewCalculation(order(t, 10000, Item{ProductID: "pin", Quantity: 1, Amount: 100}, Item{ProductID: "hat", Quantity: 3, Amount: 300}), CalcDiscounted, false)
	a = calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(1000), Effect: campaigns.EffectApplyToItemsProportionallyByQty}, nil)
	if a.Total() != 400 {
		t.Fatalf("proportional by quantity over lines worth 4.00: %+v", a)
	}

	calc = NewCalculation(order(t, 0, items...), CalcDiscounted, false)
	a = calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(100), Effect: campaigns.EffectApplyToItemsByQuantity}, nil)
	if a.Total() != 100*(2+4+1) {
		t.Fatalf("1.00 off each unit: %+v", a)
	}

	calc = NewCalculation(order(t, 0, items...), CalcDiscounted, false)
	a = calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountFixed, FixedAmount: i64(300), Effect: campaigns.EffectApplyToItems}, func(it Item) bool { return it.refersTo("socks") })
	if a.Total() != 2000-4*300 {
		t.Fatalf("socks at 3.00 each: %+v", a)
	}

	// An item percentage's amount limit is spent on what is given: in INITIAL
	// mode 50% of a line that an earlier discount left at 1.00 is 1.00, and
	// the other 5.00 of the 6.00 limit go to the next line.
	calc = NewCalculation(order(t, 0, Item{ProductID: "a", Amount: 1000}, Item{ProductID: "b", Amount: 1000}), CalcInitial, false)
	calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(900), Effect: campaigns.EffectApplyToItems}, func(it Item) bool { return it.refersTo("a") })
	capped := percent(50_00, campaigns.EffectApplyToItems)
	capped.AmountLimit = i64(600)
	if a := calc.ApplyDiscount(capped, nil); a.Total() != 600 || len(a.ItemDiscounts) != 2 || a.ItemDiscounts[0].Amount != 100 || a.ItemDiscounts[1].Amount != 500 {
		t.Fatalf("50%% of the lines capped at 6.00, the first line at 1.00 left: %+v", a)
	}

	// ONCE: a line discounted once is not discounted again.
	calc = NewCalculation(order(t, 0, items...), CalcDiscounted, true)
	calc.ApplyDiscount(percent(10_00, campaigns.EffectApplyToItems), onlyShoes)
	if a := calc.ApplyDiscount(percent(10_00, campaigns.EffectApplyToItems), onlyShoes); !a.None() {
		t.Fatalf("second discount on a ONCE line: %+v", a)
	}
}

func TestFreeUnitsAndGiftCredits(t *testing.T) {
	unit := campaigns.Discount{Type: campaigns.DiscountUnit, UnitOff: i64(1), UnitType: "hat-red", Effect: campaigns.EffectAddMissingItems}
	calc := NewCalculation(order(t, 0, Item{SKUID: "hat-red", Price: 2000, Quantity: 3}), CalcDiscounted, false)
	if a := calc.ApplyDiscount(unit, nil); a.Total() != 2000 || len(a.AddedItems) != 0 {
		t.Fatalf("one hat free: %+v", a)
	}
	// A line that states only its amount: a unit is the amount over the quantity.
	calc = NewCalculation(order(t, 0, Item{SKUID: "hat-red", Amount: 5000, Quantity: 2}), CalcDiscounted, false)
	if a := calc.ApplyDiscount(unit, nil); a.Total() != 2500 {
		t.Fatalf("one of two hats priced by amount: %+v", a)
	}
	calc = NewCalculation(order(t, 0, Item{SKUID: "hat-red", Amount: 1000, Quantity: 3}), CalcDiscounted, false)
	if a := calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountUnit, UnitOff: i64(3), UnitType: "hat-red", Effect: campaigns.EffectAddMissingItems}, nil); a.Total() != 1000 {
		t.Fatalf("three of three hats priced by amount: %+v", a)
	}
	calc = NewCalculation(order(t, 0, Item{SKUID: "scarf", Price: 2000}), CalcDiscounted, false)
	if a := calc.ApplyDiscount(unit, nil); a.Total() != 0 || len(a.AddedItems) != 1 || a.AddedItems[0].Quantity != 1 {
		t.Fatalf("missing hat added: %+v", a)
	}

	// ONCE: a hat line already discounted takes no free hat, and the hat is
	// not missing either: nothing is added.
	calc = NewCalculation(order(t, 0, Item{SKUID: "hat-red", Price: 2000}), CalcDiscounted, true)
	calc.ApplyDiscount(percent(10_00, campaigns.EffectApplyToItems), nil)
	if a := calc.ApplyDiscount(unit, nil); !a.None() {
		t.Fatalf("a free hat for an order whose hat line is discounted already: %+v", a)
	}

	calc = NewCalculation(order(t, 10000), CalcDiscounted, false)
	calc.ApplyDiscount(percent(15_00, campaigns.EffectApplyToOrder), nil)
	if a := calc.ApplyGift(5000, 2000); a.GiftCredits != 2000 {
		t.Fatalf("2,000 of a 5,000 gift card: %+v", a)
	}
	if a := calc.ApplyGift(50000, 0); a.GiftCredits != 6500 {
		t.Fatalf("a large gift card pays what is left (65.00): %+v", a)
	}
	if tot := calc.Totals(); tot.TotalAmount != 0 || tot.TotalDiscountAmount != 10000 {
		t.Fatalf("totals %+v", tot)
	}
}

// Whatever is applied, in whatever order, totals add up and nothing goes below zero.
func TestTotalsInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	effects := []string{campaigns.EffectApplyToOrder, campaigns.EffectApplyToItems, campaigns.EffectApplyToItemsProportionally, campaigns.EffectApplyToItemsByQuantity, campaigns.EffectApplyToItemsProportionallyByQty}
	for n := 0; n < 2000; n++ {
		var items []Item
		for k := r.IntN(5); k > 0; k-- {
			items = append(items, Item{ProductID: []string{"a", "b", "c"}[r.IntN(3)], Price: r.Int64N(100000), Quantity: 1 + r.Int64N(5)})
		}
		o := order(t, r.Int64N(2)*r.Int64N(1_000_000), items...)
		calc := NewCalculation(o, []string{CalcInitial, CalcDiscounted}[r.IntN(2)], r.IntN(2) == 0)
		var sum int64
		for k := 1 + r.IntN(6); k > 0; k-- {
			var a Applied
			switch r.IntN(4) {
			case 0:
				a = calc.ApplyDiscount(percent(1+r.Int64N(100_00), effects[r.IntN(2)]), nil)
			case 1:
				a = calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountAmount, AmountOff: i64(1 + r.Int64N(50000)), Effect: effects[r.IntN(len(effects))]},
					func(it Item) bool { return it.ProductID != "c" })
			case 2:
				a = calc.ApplyDiscount(campaigns.Discount{Type: campaigns.DiscountFixed, FixedAmount: i64(r.Int64N(50000)), Effect: effects[r.IntN(2)]}, nil)
			case 3:
				a = calc.ApplyGift(r.Int64N(100000), r.Int64N(2)*r.Int64N(100000))
			}
			for _, d := range a.ItemDiscounts {
				if d.Amount <= 0 {
					t.Fatalf("non-positive item discount %+v", a)
				}
			}
			sum += a.Total()
		}
		tot := calc.Totals()
		if tot.TotalDiscountAmount != sum || tot.TotalAmount < 0 || tot.TotalAmount != o.Amount-sum ||
			tot.DiscountAmount+tot.ItemsDiscountAmount != tot.TotalDiscountAmount {
			t.Fatalf("order %+v: applied %d, totals %+v", o, sum, tot)
		}
		for i := range calc.remaining {
			if calc.remaining[i] < 0 {
				t.Fatalf("item %d below zero: %d", i, calc.remaining[i])
			}
		}
	}
}

func TestOrderNormalizeNamesTheField(t *testing.T) {
	many := make([]Item, MaxItems+1)
	cases := []struct {
		name, field string
		o           Order
	}{
		{"1,001 items", "order.items", Order{Items: many}},
		{"negative price", "order.items[0].price", Order{Items: []Item{{Price: -1}}}},
		{"absurd quantity", "order.items[0].quantity", Order{Items: []Item{{Price: 1, Quantity: MaxQuantity + 1}}}},
		{"price × quantity overflow", "order.items[0].amount", Order{Items: []Item{{Price: MaxAmount, Quantity: 2}}}},
		{"negative amount", "order.amount", Order{Amount: -5}},
		{"absurd amount", "order.amount", Order{Amount: MaxAmount + 1}},
		{"wrong currency", "order.currency", Order{Amount: 5, Currency: "USD"}},
	}
	for _, c := range cases {
		err := c.o.Normalize("EUR")
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("%s: %v, want a problem naming %s", c.name, err, c.field)
		}
	}
	o := Order{Items: []Item{{Price: 250, Quantity: 4}, {Amount: 300}}}
	if err := o.Normalize("eur"); err != nil || o.Amount != 1300 || o.Items[0].Amount != 1000 || o.Items[1].Quantity != 1 {
		t.Fatalf("normalised %+v, %v", o, err)
	}
}
