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
	key   cacheKey
	ready chan struct{}
	query rego.PreparedEvalQuery // safe for concurrent Eval once ready
	err   error
}

// queryCache is a bounded LRU of prepared queries.
type queryCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *prepared, most recently used first
	entries map[cacheKey]*list.Element
}

func newQueryCache(maxEntries int) *queryCache {
	return &queryCache{max: maxEntries, order: list.New(), entries: make(map[cacheKey]*list.Element)}
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
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*prepared).key)
	}
	return p, true
}

// done publishes p. A failed compilation is dropped from the cache so that the
// next evaluation tries again rather than failing until evicted.
func (c *queryCache) done(p *prepared) {
	close(p.ready)
	if p.err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[p.key]; ok && el.Value.(*prepared) == p {
		c.order.Remove(el)
		delete(c.entries, p.key)
	}
}

// len is the number of entries, ready or not.
func (c *queryCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
