// Package metadata checks the metadata objects Punchcard stores: on customers,
// campaigns, vouchers and promotion tiers, and the metadata rules of a campaign.
// Every one is held to the same bounds, and a refusal names the field.
package metadata

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Bounds on a metadata object. They are generous bounds against abuse, not a
// data model.
const (
	MaxKeys  = 100      // top-level keys
	MaxKey   = 100      // characters in a top-level key
	MaxBytes = 16 << 10 // the object as JSON
)

// Check refuses m, the value of field, when it has more than MaxKeys keys, an
// empty key or one longer than MaxKey characters, U+0000 in any key or string
// (PostgreSQL cannot store it in jsonb), or more than MaxBytes of JSON. A nil
// object passes.
func Check(field string, m map[string]any) error {
	if m == nil {
		return nil
	}
	if len(m) > MaxKeys {
		return problem.Invalidf(field, "%s may hold at most %d keys", field, MaxKeys)
	}
	for k := range m {
		if k == "" {
			return problem.Invalidf(field, "%s keys must not be empty", field)
		}
		if utf8.RuneCountInString(k) > MaxKey {
			return problem.Invalidf(field, "%s keys must be at most %d characters", field, MaxKey)
		}
	}
	if ContainsNUL(m) {
		return problem.Invalidf(field, "%s must not contain the NUL character (U+0000)", field)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return problem.Invalidf(field, "%s must be a JSON object", field)
	}
	if len(b) > MaxBytes {
		return problem.Invalidf(field, "%s must be at most %d bytes as JSON", field, MaxBytes)
	}
	return nil
}

// ContainsNUL reports whether a decoded JSON value holds U+0000 in any key or
// string.
func ContainsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		for _, e := range v {
			if ContainsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || ContainsNUL(e) {
				return true
			}
		}
	}
	return false
}
