package policies

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// A tenant tunes the base fraud policy's thresholds in the data document of its
// fraud policy: {"thresholds": {"max_validations_per_customer_per_minute": 100}}.
// The engine passes them to the policy as input.settings.fraud; a threshold left
// out or null keeps its default, 0 switches its check off.

// thresholdsKey is the key of the thresholds in a fraud policy's data document.
const thresholdsKey = "thresholds"

// FraudThresholds are the base fraud policy's thresholds and their defaults, as
// the policy itself defines them (data.punchcard.fraud.defaults).
var FraudThresholds = sync.OnceValue(func() map[string]int64 {
	opts := []func(*rego.Rego){rego.Query("data.punchcard.fraud.defaults")}
	for name, src := range Base(Fraud) {
		opts = append(opts, rego.Module(name, src))
	}
	rs, err := rego.New(opts...).Eval(context.Background())
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		panic(fmt.Sprintf("policies: the base fraud policy's defaults: %v", err))
	}
	out := map[string]int64{}
	for name, v := range rs[0].Expressions[0].Value.(map[string]any) {
		n, err := number(v)
		if err != nil {
			panic(fmt.Sprintf("policies: the base fraud policy's default %s: %v", name, err))
		}
		out[name] = int64(n)
	}
	return out
})

// TenantThresholds are the thresholds in a fraud policy's data document, for
// input.settings.fraud: an empty object when it sets none.
func TenantThresholds(data map[string]any) map[string]any {
	t, _ := data[thresholdsKey].(map[string]any)
	if t == nil {
		return map[string]any{}
	}
	return t
}

// CheckData checks what the engine itself reads of the data document of a
// tenant's policy of kind: for fraud, the thresholds, an object of known
// thresholds, each a whole number ≥ 0 or null. The problem names the field.
func CheckData(kind Kind, data map[string]any) error {
	raw, ok := data[thresholdsKey]
	if kind != Fraud || !ok {
		return nil
	}
	t, ok := raw.(map[string]any)
	if !ok {
		return problem.Invalid("data."+thresholdsKey, "data.thresholds must be an object of threshold name → whole number")
	}
	known := FraudThresholds()
	for _, name := range slices.Sorted(maps.Keys(t)) {
		field := "data." + thresholdsKey + "." + name
		if _, ok := known[name]; !ok {
			return problem.Invalidf(field, "%s: unknown threshold; the fraud thresholds are %v", field, slices.Sorted(maps.Keys(known)))
		}
		if t[name] == nil {
			continue
		}
		n, err := number(t[name])
		if err != nil || n < 0 || n != math.Trunc(n) || n > 1e9 {
			return problem.Invalidf(field, "%s must be a whole number from 0 (off) to 1000000000, or null (the default)", field)
		}
	}
	return nil
}
