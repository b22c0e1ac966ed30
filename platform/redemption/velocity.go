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
	windowBuckets     = 12      // a window slides in steps of a twelfth of it
	maxWindowKeys     = 100_000 // per window, above which idle keys are dropped (and if none are, all)
)

// window counts events per key over the last span, in buckets of span /
// windowBuckets: a count covers between span - span/windowBuckets and span. A key
// is kept for a span after its last event, in a bounded ttlcache. It is safe for
// concurrent use.
type window struct {
	step time.Duration                    // one bucket
	mu   sync.Mutex                       // serialises adds, each a read-modify-write of a key's buckets
	keys *ttlcache.Cache[string, buckets] // by tenant and customer
}

// buckets is one key's ring: the step index each slot counts and its count.
type buckets struct {
	steps  [windowBuckets]int64
	counts [windowBuckets]int64
}

func newWindow(span time.Duration) *window {
	return &window{step: span / windowBuckets, keys: ttlcache.New[string, buckets](span, maxWindowKeys)}
}

// count is the number of events for key in the window ending at now.
func (w *window) count(key string, now time.Time) int64 {
	b, _ := w.keys.Get(key)
	return b.sum(now.UnixNano() / int64(w.step))
}

// add counts one event for key at now.
func (w *window) add(key string, now time.Time) {
	step := now.UnixNano() / int64(w.step)
	w.mu.Lock()
	defer w.mu.Unlock()
	b, _ := w.keys.Get(key)
	i := step % windowBuckets
	if b.steps[i] != step {
		b.steps[i], b.counts[i] = step, 0
	}
	b.counts[i]++
	w.keys.Put(key, b)
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

// velocityKey is a request's key in the windows: its tenant and customer, or ""
// (nothing counted) without one. A customer is counted by source_id when it has
// one, so that the requests of a new customer, known by source_id until a
// redemption creates it, and its requests after that count together; by id
// otherwise.
func velocityKey(tenantID string, c *customers.Customer) string {
	switch {
	case c == nil:
		return ""
	case c.SourceID != "":
		return tenantID + "\x00source_id\x00" + c.SourceID
	}
	return tenantID + "\x00id\x00" + c.ID
}

// counts are the fraud input's counts before this request.
func (v *velocity) counts(key string, now time.Time) (validations, failures int64) {
	if key == "" {
		return 0, 0
	}
	return v.validations.count(key, now), v.failures.count(key, now)
}

// validated counts a validation, and its failure when it was not valid.
func (v *velocity) validated(key string, valid bool, now time.Time) {
	if key == "" {
		return
	}
	v.validations.add(key, now)
	if !valid {
		v.failures.add(key, now)
	}
}
