package redemption

import (
	"sync"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/ttlcache"
)

// The fraud policy's request counts that no table holds: validations do not write,
// so validations per customer per minute and failed validations per customer per
// ten minutes are counted in this node's memory. Behind a load balancer each node
// counts the requests it served, so a customer spread over n nodes meets a
// threshold at up to n times its value; redemptions per hour come from the
// database and are exact. A request that names no known customer is not counted:
// brands call the API from their servers, so its address is the brand's, and
// counting by it would hold every anonymous shopper of the brand to one limit.
const (
	validationsWindow = time.Minute
	failuresWindow    = 10 * time.Minute
	windowBuckets     = 12 // a window slides in steps of a twelfth of it

	// A window holds each tenant's keys apart, so that no tenant's traffic
	// evicts another tenant's counts. Past maxTenantWindowKeys customers counted
	// within the span, a tenant's window evicts its own customer whose last event
	// is the oldest. Past maxWindowTenants tenants with an event within the span,
	// the window evicts the whole count of the tenant whose last event is the
	// oldest: one tenant's traffic, however heavy, takes one place. A window so
	// holds at most 1,000 × 2,000 = 2 million keys, some 700 MB at worst (a key
	// and its buckets take about 350 bytes), 1.4 GB for the two windows; what
	// they hold is the customers with events within their spans. A tenant past
	// its bound loses the counts of its least recent customers, whom the
	// windows matter least for.
	maxTenantWindowKeys = 2_000
	maxWindowTenants    = 1_000
)

// window counts events per key over the last span, in buckets of span /
// windowBuckets: a count covers between span - span/windowBuckets and span. A key
// is kept for a span after its last event, in its tenant's bounded ttlcache, and
// a tenant's cache for a span after the tenant's last event (by then every key
// in it has expired too). It is safe for concurrent use.
type window struct {
	span, step time.Duration // the window's, and one bucket's
	mu         sync.Mutex    // serialises adds, each a read-modify-write of a key's buckets

	// Each tenant's counts by customer, by tenant.
	tenants *ttlcache.Cache[string, *ttlcache.Cache[string, buckets]]
}

// buckets is one key's ring: the step index each slot counts and its count.
type buckets struct {
	steps  [windowBuckets]int64
	counts [windowBuckets]int64
}

func newWindow(span time.Duration) *window {
	return &window{span: span, step: span / windowBuckets,
		tenants: ttlcache.New[string, *ttlcache.Cache[string, buckets]](span, maxWindowTenants)}
}

// count is the number of events for key in the window ending at now.
func (w *window) count(key countKey, now time.Time) int64 {
	var b buckets
	if keys, ok := w.tenants.Get(key.tenant); ok {
		b, _ = keys.Get(key.customer)
	}
	return b.sum(now.UnixNano() / int64(w.step))
}

// add counts one event for key at now.
func (w *window) add(key countKey, now time.Time) {
	step := now.UnixNano() / int64(w.step)
	w.mu.Lock()
	defer w.mu.Unlock()
	keys, ok := w.tenants.Get(key.tenant)
	if !ok {
		keys = ttlcache.New[string, buckets](w.span, maxTenantWindowKeys)
	}
	b, _ := keys.Get(key.customer)
	i := step % windowBuckets
	if b.steps[i] != step {
		b.steps[i], b.counts[i] = step, 0
	}
	b.counts[i]++
	keys.Put(key.customer, b)
	w.tenants.Put(key.tenant, keys) // after the key, so that it outlives it
}

func (b *buckets) sum(step int64) int64 {
	var n int64
	for i, s := range b.steps {
		if s > step-windowBuckets && s <= step {
			n += b.counts[i]
		}
	}
	return n
}

// velocity is what this node has counted of the requests like this one.
type velocity struct {
	validations *window // validations per tenant and customer
	failures    *window // failed validations per tenant and customer
}

func newVelocity() *velocity {
	return &velocity{validations: newWindow(validationsWindow), failures: newWindow(failuresWindow)}
}

// countKey is a request's key in the windows: its tenant, and its customer
// within the tenant. The zero countKey counts nothing.
type countKey struct{ tenant, customer string }

// velocityKey is a request's key in the windows: its tenant and customer, or the
// zero key (nothing counted) without one. A customer is counted by source_id
// when it has one, so that the requests of a new customer, known by source_id
// until a redemption creates it, and its requests after that count together; by
// id otherwise.
func velocityKey(tenantID string, c *customers.Customer) countKey {
	switch {
	case c == nil:
		return countKey{}
	case c.SourceID != "":
		return countKey{tenantID, "source_id\x00" + c.SourceID}
	}
	return countKey{tenantID, "id\x00" + c.ID}
}

// counts are the fraud input's counts before this request.
func (v *velocity) counts(key countKey, now time.Time) (validations, failures int64) {
	if key == (countKey{}) {
		return 0, 0
	}
	return v.validations.count(key, now), v.failures.count(key, now)
}

// validated counts a validation, and its failure when it was not valid.
// refused counts a refused redemption as a failure, as a failed validation
// is: a customer who guesses codes at POST /v1/redemptions is counted too.
func (v *velocity) refused(key countKey, now time.Time) {
	if key != (countKey{}) {
		v.failures.add(key, now)
	}
}

func (v *velocity) validated(key countKey, valid bool, now time.Time) {
	if key == (countKey{}) {
		return
	}
	v.validations.add(key, now)
	if !valid {
		v.failures.add(key, now)
	}
}
