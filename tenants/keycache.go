package tenants

import (
	"sync"
	"time"
)

// keyCacheTTL is how long an authenticated key and its tenant are served from
// memory. It bounds how long a key revoked or a tenant suspended by another
// process (the CLI, another node) keeps working here; changes made through this
// Service take effect at once.
const keyCacheTTL = time.Second

// maxCachedKeys bounds the cache; past it, expired entries are dropped, and if
// none are, everything is.
const maxCachedKeys = 10000

// keyCache holds recent key lookups by credential (the secret's hash, or the key id
// of an app-id pair), so that a busy key costs no database round trip per request.
// Its expiry runs on the monotonic clock rather than the injected one: it bounds
// staleness in real time, whatever time the domain sees.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]cachedKey
}

type cachedKey struct {
	key     APIKey
	tenant  Tenant
	expires time.Time
}

func newKeyCache() *keyCache { return &keyCache{entries: map[string]cachedKey{}} }

func (c *keyCache) get(cred string) (APIKey, Tenant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cred]
	if !ok {
		return APIKey{}, Tenant{}, false
	}
	if time.Now().After(e.expires) {
		delete(c.entries, cred)
		return APIKey{}, Tenant{}, false
	}
	return e.key, e.tenant, true
}

func (c *keyCache) put(cred string, k APIKey, t Tenant) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedKeys {
		for id, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, id)
			}
		}
		if len(c.entries) >= maxCachedKeys {
			clear(c.entries)
		}
	}
	c.entries[cred] = cachedKey{key: k, tenant: t, expires: now.Add(keyCacheTTL)}
}

// touched records a key's new last_used_at in its entries, so that the next
// requests do not write it again.
func (c *keyCache) touched(keyID string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.entries {
		if e.key.ID == keyID {
			e.key.LastUsedAt = &at
			c.entries[id] = e
		}
	}
}

// forget drops every entry of the key keyID, or of any key of tenantID.
func (c *keyCache) forget(keyID, tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.entries {
		if (keyID != "" && e.key.ID == keyID) || (tenantID != "" && e.key.TenantID == tenantID) {
			delete(c.entries, id)
		}
	}
}
