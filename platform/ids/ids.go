// Package ids mints the public identifiers of Punchcard: a short prefix naming the
// kind of object followed by a ULID, so that ids are opaque, unique across tenants
// and sort by creation time the same way on SQLite and PostgreSQL.
package ids

import (
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the public ids, one per kind of object.
const (
	Tenant      = "ten"
	APIKey      = "key"
	Customer    = "cust"
	AuditEvent  = "evt"
	Request     = "req"
	Deletion    = "del"
	ConsentPref = "cnst"
)

// New returns a new id of the given kind, such as "cust_01JD3M4ZC8X9V2K7QF5N6T0B1R".
func New(prefix string) string {
	return prefix + "_" + ulid.Make().String()
}

// HasPrefix reports whether id looks like an id of the given kind. It is a cheap
// syntactic test used to tell ids from caller-chosen source ids.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != ulid.EncodedSize {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}

// Secret returns n random bytes encoded as unpadded URL-safe base64, for API key
// secrets and operator tokens.
func Secret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+ panics itself).
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
