package policies

import (
	"container/list"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"
)

// cacheKey identifies one compiled policy. Policy versions are immutable, so a
// new version is a new key and stale entries simply age out of the cache.
type cacheKey struct {
	tenantID string
	kind     Kind
	version  string
}

// prepared is a cache entry: the prepared query once ready closes, or the
// compile error. Waiting on ready lets concurrent first evaluations of the same
// key share one compilation.
type prepared struct {
	key    cacheKey
	ready  chan struct{}
	query  rego.PreparedEvalQuery // safe for concurrent Eval once ready
	split  bool                   // query is the tenant's modules alone (see compiled)
	reads  inputReads             // of the decision, the base's included when split
	err    error
	weight int64 // estimated bytes, set by done under the lock
}

// queryCache is an LRU of prepared queries bounded by their estimated memory
// and, optionally, by their count. An entry being compiled weighs nothing until
// it is done; the entry just added is never evicted, so one entry heavier than
// the whole bound is still kept (alone).
type queryCache struct {
	mu         sync.Mutex
	maxEntries int   // 0: no bound on the count
	maxBytes   int64 // bound on the sum of weights
	bytes      int64
	order      *list.List // of *prepared, most recently used first
	entries    map[cacheKey]*list.Element
}

func newQueryCache(maxEntries int, maxBytes int64) *queryCache {
	return &queryCache{maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), entries: make(map[cacheKey]*list.Element)}
}

// get returns the entry for key and whether the caller must fill it (a miss).
// The caller that fills an entry calls done once the query or error is set.
func (c *queryCache) get(key cacheKey) (p *prepared, fill bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*prepared), false
	}
	p = &prepared{key: key, ready: make(chan struct{})}
	c.entries[key] = c.order.PushFront(p)
	c.evict(p)
	return p, true
}

// evict drops least recently used entries other than keep while over a bound.
func (c *queryCache) evict(keep *prepared) {
	for c.order.Len() > 1 && (c.bytes > c.maxBytes || (c.maxEntries > 0 && c.order.Len() > c.maxEntries)) {
		oldest := c.order.Back()
		if oldest.Value.(*prepared) == keep {
			oldest = oldest.Prev()
		}
		c.remove(oldest)
	}
}

func (c *queryCache) remove(el *list.Element) {
	p := el.Value.(*prepared)
	c.order.Remove(el)
	delete(c.entries, p.key)
	c.bytes -= p.weight
}

// done publishes p and counts its weight. A failed compilation is dropped from
// the cache so that the next evaluation tries again rather than failing until
// evicted.
func (c *queryCache) done(p *prepared, weight int64) {
	close(p.ready)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[p.key]
	if !ok || el.Value.(*prepared) != p {
		return // evicted while it compiled
	}
	if p.err != nil {
		c.remove(el)
		return
	}
	p.weight = weight
	c.bytes += weight
	c.evict(p)
}

// len is the number of entries, ready or not.
func (c *queryCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// size is the estimated bytes of the ready entries.
func (c *queryCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
