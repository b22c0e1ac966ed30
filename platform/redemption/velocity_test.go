package redemption

import (
	"strconv"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
)

func TestWindowCountsWithinItsSpan(t *testing.T) {
	w := newWindow(time.Minute)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		w.add(countKey{"ten_a", "c1"}, t0.Add(time.Duration(i)*time.Second))
	}
	w.add(countKey{"ten_a", "c2"}, t0)
	w.add(countKey{"ten_b", "c1"}, t0)
	if n := w.count(countKey{"ten_a", "c1"}, t0.Add(10*time.Second)); n != 10 {
		t.Errorf("count after 10 events = %d, want 10", n)
	}
	if n := w.count(countKey{"ten_a", "c2"}, t0.Add(10*time.Second)); n != 1 {
		t.Errorf("another key's count = %d, want 1", n)
	}
	if n := w.count(countKey{"ten_a", "none"}, t0); n != 0 {
		t.Errorf("unknown key's count = %d, want 0", n)
	}
	// Events leave the window a span after their bucket began: the bucket of
	// 0–4 s is gone at 60 s, the one of 5–9 s at 65 s.
	if n := w.count(countKey{"ten_a", "c1"}, t0.Add(59*time.Second)); n != 10 {
		t.Errorf("count at 59 s = %d, want 10", n)
	}
	if n := w.count(countKey{"ten_a", "c1"}, t0.Add(60*time.Second)); n != 5 {
		t.Errorf("count at 60 s = %d, want the 5 events of 5–9 s", n)
	}
	if n := w.count(countKey{"ten_a", "c1"}, t0.Add(65*time.Second)); n != 0 {
		t.Errorf("count at 65 s = %d, want 0", n)
	}
	// A slot reused a span later starts from zero.
	w.add(countKey{"ten_a", "c1"}, t0.Add(time.Minute))
	if n := w.count(countKey{"ten_a", "c1"}, t0.Add(time.Minute)); n != 1+5 {
		t.Errorf("count after reuse = %d, want the new event and 5–9 s", n)
	}
}

func TestVelocityCountsKnownCustomersOnly(t *testing.T) {
	cus := &customers.Customer{ID: "cus_1"}
	if velocityKey("ten_a", cus) == velocityKey("ten_b", cus) {
		t.Error("two tenants share a key")
	}
	v := newVelocity()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	k := velocityKey("ten_a", cus)
	v.validated(k, true, now)
	v.validated(k, false, now)
	if n, f := v.counts(k, now); n != 2 || f != 1 {
		t.Errorf("counts = %d validations, %d failures; want 2, 1", n, f)
	}
	// A new customer's requests, by source_id, and its requests once a redemption
	// created it count together; one without a source_id counts by id, apart.
	newcomer := velocityKey("ten_a", &customers.Customer{SourceID: "ada"})
	v.validated(newcomer, false, now)
	created := velocityKey("ten_a", &customers.Customer{ID: "cus_2", SourceID: "ada"})
	if n, f := v.counts(created, now); n != 1 || f != 1 {
		t.Errorf("after creation counts = %d, %d; want the new customer's 1, 1", n, f)
	}
	if velocityKey("ten_a", &customers.Customer{ID: "ada"}) == newcomer {
		t.Error("a customer with id ada and none with source_id ada share a key")
	}
	// Without a customer nothing is counted, and nothing is read.
	anonymous := velocityKey("ten_a", nil)
	v.validated(anonymous, false, now)
	if n, f := v.counts(anonymous, now); n != 0 || f != 0 {
		t.Errorf("anonymous counts = %d, %d; want 0, 0", n, f)
	}
	if n, f := v.validations.count(anonymous, now), v.failures.count(anonymous, now); n != 0 || f != 0 {
		t.Errorf("the windows hold %d validations and %d failures under the anonymous key, want none", n, f)
	}
}

func TestVelocityTenantFloodKeepsOtherTenants(t *testing.T) {
	v := newVelocity()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a := velocityKey("ten_a", &customers.Customer{ID: "cus_1"})
	v.validated(a, false, now)
	v.validated(a, false, now)
	// Tenant B fails validations for more customers than its windows hold.
	b := func(i int) string { return "cus_" + strconv.Itoa(i) }
	for i := range maxTenantWindowKeys + 1 {
		v.validated(velocityKey("ten_b", &customers.Customer{ID: b(i)}), false, now)
	}
	if n, f := v.counts(a, now); n != 2 || f != 2 {
		t.Errorf("tenant A's counts after tenant B's flood = %d, %d; want 2, 2", n, f)
	}
	// B's flood evicted B's oldest customer, and only it.
	if n, f := v.counts(velocityKey("ten_b", &customers.Customer{ID: b(0)}), now); n != 0 || f != 0 {
		t.Errorf("B's first customer's counts = %d, %d; want it evicted", n, f)
	}
	for _, i := range []int{1, maxTenantWindowKeys} {
		if n, f := v.counts(velocityKey("ten_b", &customers.Customer{ID: b(i)}), now); n != 1 || f != 1 {
			t.Errorf("B's customer %d's counts = %d, %d; want 1, 1", i, n, f)
		}
	}
}

func TestWindowEvictsTheLeastRecentTenant(t *testing.T) {
	w := newWindow(time.Minute)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tenant := func(i int) countKey { return countKey{"ten_" + strconv.Itoa(i), "c1"} }
	for i := range maxWindowTenants {
		w.add(tenant(i), now)
	}
	w.add(tenant(0), now) // tenant 0 is now the most recent, tenant 1 the least
	w.add(tenant(maxWindowTenants), now)
	if n := w.count(tenant(1), now); n != 0 {
		t.Errorf("the least recent tenant's count = %d, want it evicted", n)
	}
	if n := w.count(tenant(0), now); n != 2 {
		t.Errorf("tenant 0's count = %d, want 2", n)
	}
	for _, i := range []int{2, maxWindowTenants} {
		if n := w.count(tenant(i), now); n != 1 {
			t.Errorf("tenant %d's count = %d, want 1", i, n)
		}
	}
}
