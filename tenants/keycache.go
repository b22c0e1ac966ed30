package tenants

import (
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/ttlcache"
)

// keyCacheTTL is how long an authenticated key and its tenant are served from
// memory. It bounds how long a key revoked or a tenant suspended by another
// process (the CLI, another node) keeps working here; changes made through this
// Service take effect at once.
const keyCacheTTL = time.Second

// maxCachedKeys bounds the cache; past it, the oldest entry is dropped.
const maxCachedKeys = 10000

// keyCache holds recent key lookups by credential (the secret's hash, or the key id
// of an app-id pair), so that a busy key costs no database round trip per request.
type keyCache struct {
	c *ttlcache.Cache[string, cachedKey]
}

type cachedKey struct {
	key    APIKey
	tenant Tenant
}

func newKeyCache() *keyCache {
	return &keyCache{c: ttlcache.New[string, cachedKey](keyCacheTTL, maxCachedKeys)}
}

func (c *keyCache) get(cred string) (APIKey, Tenant, bool) {
	e, ok := c.c.Get(cred)
	return e.key, e.tenant, ok
}

func (c *keyCache) put(cred string, k APIKey, t Tenant) {
	c.c.Put(cred, cachedKey{key: k, tenant: t})
}

// touched records a key's new last_used_at in its entries, so that the next
// requests do not write it again.
func (c *keyCache) touched(keyID string, at time.Time) {
	c.c.UpdateFunc(func(_ string, e cachedKey) (cachedKey, bool) {
		if e.key.ID != keyID {
			return e, false
		}
		e.key.LastUsedAt = &at
		return e, true
	})
}

// forget drops every entry of the key keyID, or of any key of tenantID.
func (c *keyCache) forget(keyID, tenantID string) {
	c.c.DeleteFunc(func(_ string, e cachedKey) bool {
		return (keyID != "" && e.key.ID == keyID) || (tenantID != "" && e.key.TenantID == tenantID)
	})
}
