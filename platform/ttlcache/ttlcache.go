// Package ttlcache is a bounded in-memory map whose entries expire a fixed time
// after they were stored, on the monotonic clock: it bounds how stale a value
// may be in real time, whatever time the domain sees. Punchcard uses it where a
// node may serve a value read from the database for a moment (API keys,
// stacking rules) and drops it at once when the change is made through the node,
// and to keep each customer's validation counts for a window after their last
// event.
//
// Entries are kept in the order they expire, which with a fixed TTL is the order
// of their last store: a store drops the expired entries at the front, and when
// the cache is full it evicts the oldest entry, and only it. Both cost O(1)
// amortised; a value Load read takes its place by when its read began, behind
// the entries stored while it read.
package ttlcache

import (
	"sync"
	"time"
)

// Cache maps keys to values for TTL each. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	ttl time.Duration
	max int
	now func() time.Time // time.Now; tests set another clock

	mu      sync.Mutex
	entries map[K]*node[K, V]
	order   node[K, V] // sentinel of the list of entries by expiry: next is the first to expire
	gen     uint64     // bumped by every deletion, so that a load that raced one is not kept
}

// node is an entry, linked into its cache's list by expiry.
type node[K comparable, V any] struct {
	key        K
	value      V
	expires    time.Time
	prev, next *node[K, V]
}

// New returns a cache whose entries live for ttl and which holds at most max of
// them (at least one): storing a new key in a full cache, with no entry expired,
// evicts the entry stored longest ago.
func New[K comparable, V any](ttl time.Duration, max int) *Cache[K, V] {
	c := &Cache[K, V]{ttl: ttl, max: max, now: time.Now, entries: map[K]*node[K, V]{}}
	c.order.prev, c.order.next = &c.order, &c.order
	return c
}

// Get returns k's value while it is fresh.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.entries[k]
	if ok && c.now().Before(n.expires) {
		return n.value, true
	}
	if ok {
		c.remove(n)
	}
	var zero V
	return zero, false
}

// Put stores v for k.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(k, v, c.now())
}

// put stores v for k until ttl after stored, moving k to its place in the
// order: the end, but for a value Load read, stored when the read began, which
// may precede entries stored during the read.
func (c *Cache[K, V]) put(k K, v V, stored time.Time) {
	if n, ok := c.entries[k]; ok {
		c.remove(n)
	}
	for first := c.order.next; first != &c.order && !stored.Before(first.expires); first = c.order.next {
		c.remove(first)
	}
	for len(c.entries) >= c.max && c.order.next != &c.order {
		c.remove(c.order.next)
	}
	n := &node[K, V]{key: k, value: v, expires: stored.Add(c.ttl)}
	at := c.order.prev
	for at != &c.order && at.expires.After(n.expires) {
		at = at.prev
	}
	n.prev, n.next = at, at.next
	at.next.prev = n
	at.next = n
	c.entries[k] = n
}

// remove drops n from the map and the order.
func (c *Cache[K, V]) remove(n *node[K, V]) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	delete(c.entries, n.key)
}

// Load returns k's value while it is fresh, else the one load reads, which is
// kept unless a deletion ran while it was read (the value may predate it).
func (c *Cache[K, V]) Load(k K, load func() (V, error)) (V, error) {
	if v, ok := c.Get(k); ok {
		return v, nil
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	started := c.now()
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.put(k, v, started)
	}
	return v, nil
}

// Delete drops k's entry.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if n, ok := c.entries[k]; ok {
		c.remove(n)
	}
}

// DeleteFunc drops every entry for which del is true.
func (c *Cache[K, V]) DeleteFunc(del func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, n := range c.entries {
		if del(k, n.value) {
			c.remove(n)
		}
	}
}

// UpdateFunc replaces the value of every entry for which update reports true,
// keeping its expiry and so its place in the order.
func (c *Cache[K, V]) UpdateFunc(update func(K, V) (V, bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.entries {
		if v, ok := update(k, n.value); ok {
			n.value = v
		}
	}
}
