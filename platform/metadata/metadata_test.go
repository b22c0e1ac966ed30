package metadata

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func TestCheck(t *testing.T) {
	many := map[string]any{}
	for i := range MaxKeys + 1 {
		many[fmt.Sprintf("k%d", i)] = i
	}
	tests := []struct {
		name string
		m    map[string]any
		want string // "" accepts; else words of the refusal
	}{
		{"nil", nil, ""},
		{"nested values", map[string]any{"tier": "gold", "tags": []any{"a", map[string]any{"b": 1.5}}}, ""},
		{"a literal backslash-u", map[string]any{"note": `\u0000`}, ""},
		{"the longest key", map[string]any{strings.Repeat("é", MaxKey): 1}, ""},
		{"too many keys", many, "at most 100 keys"},
		{"an empty key", map[string]any{"": 1}, "must not be empty"},
		{"a long key", map[string]any{strings.Repeat("k", MaxKey+1): 1}, "at most 100 characters"},
		{"NUL in a key", map[string]any{"a\x00": 1}, "NUL"},
		{"NUL in a nested string", map[string]any{"a": []any{map[string]any{"b": "x\x00"}}}, "NUL"},
		{"too large", map[string]any{"a": strings.Repeat("x", MaxBytes)}, "at most 16384 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check("rules.metadata", tc.m)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want accepted", err)
				}
				return
			}
			var p *problem.Error
			if !errors.As(err, &p) || p.Kind != problem.KindInvalid || p.Field != "rules.metadata" || !strings.Contains(p.Details, tc.want) {
				t.Fatalf("Check = %#v, want an invalid rules.metadata saying %q", err, tc.want)
			}
		})
	}
}
