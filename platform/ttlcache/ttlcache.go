// Package ttlcache is a bounded in-memory map whose entries expire a fixed time
// after they were stored, on the monotonic clock: it bounds how stale a value
// may be in real time, whatever time the domain sees. Punchcard uses it where a
// node may serve a value read from the database for a moment (API keys,
// stacking rules) and drops it at once when the change is made through the node,
// and to keep each customer's validation counts for a window after their last
// event.
package ttlcache

import (
	"sync"
	"time"
)

// Cache maps keys to values for TTL each. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[K]entry[V]
	gen     uint64 // bumped by every deletion, so that a load that raced one is not kept
}

type entry[V any] struct {
	value   V
	expires time.Time
}

// New returns a cache whose entries live for ttl. Past max entries, expired ones
// are dropped, and if none are, every one is.
func New[K comparable, V any](ttl time.Duration, max int) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, max: max, entries: map[K]entry[V]{}}
}

// Get returns k's value while it is fresh.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && time.Now().Before(e.expires) {
		return e.value, true
	}
	if ok {
		delete(c.entries, k)
	}
	var zero V
	return zero, false
}

// Put stores v for k.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(k, v, time.Now())
}

func (c *Cache[K, V]) put(k K, v V, stored time.Time) {
	if len(c.entries) >= c.max {
		for id, e := range c.entries {
			if stored.After(e.expires) {
				delete(c.entries, id)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[k] = entry[V]{value: v, expires: stored.Add(c.ttl)}
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
	started := time.Now()
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
	delete(c.entries, k)
}

// DeleteFunc drops every entry for which del is true.
func (c *Cache[K, V]) DeleteFunc(del func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if del(k, e.value) {
			delete(c.entries, k)
		}
	}
}

// UpdateFunc replaces the value of every entry for which update reports true,
// keeping its expiry.
func (c *Cache[K, V]) UpdateFunc(update func(K, V) (V, bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if v, ok := update(k, e.value); ok {
			e.value = v
			c.entries[k] = e
		}
	}
}
