package policies

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func TestFraudThresholdsComeFromTheBasePolicy(t *testing.T) {
	want := map[string]int64{
		"max_redemptions_per_customer_per_hour":   20,
		"max_validations_per_customer_per_minute": 60,
		"max_failed_validations_per_10m":          30,
		"max_redeemables_per_request":             30,
	}
	got := FraudThresholds()
	if len(got) != len(want) {
		t.Fatalf("thresholds = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
}

func TestCheckData(t *testing.T) {
	for _, tc := range []struct {
		data  string
		field string // "" when valid
	}{
		{`{}`, ""},
		{`{"blocked": ["x"]}`, ""},
		{`{"thresholds": {}}`, ""},
		{`{"thresholds": {"max_validations_per_customer_per_minute": 100, "max_failed_validations_per_10m": 0, "max_redeemables_per_request": null}}`, ""},
		{`{"thresholds": [1]}`, "data.thresholds"},
		{`{"thresholds": {"max_validation_per_minute": 5}}`, "data.thresholds.max_validation_per_minute"},
		{`{"thresholds": {"max_redeemables_per_request": -1}}`, "data.thresholds.max_redeemables_per_request"},
		{`{"thresholds": {"max_redeemables_per_request": 2.5}}`, "data.thresholds.max_redeemables_per_request"},
		{`{"thresholds": {"max_redeemables_per_request": "5"}}`, "data.thresholds.max_redeemables_per_request"},
		{`{"thresholds": {"max_redeemables_per_request": 1e12}}`, "data.thresholds.max_redeemables_per_request"},
	} {
		var data map[string]any
		if err := json.Unmarshal([]byte(tc.data), &data); err != nil {
			t.Fatal(err)
		}
		err := CheckData(Fraud, data)
		var p *problem.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.data, err)
		case tc.field != "" && (!errors.As(err, &p) || p.Field != tc.field):
			t.Errorf("%s: %v, want a problem naming %s", tc.data, err, tc.field)
		}
	}
	// Other kinds' data documents are their modules' alone.
	if err := CheckData(Eligibility, map[string]any{"thresholds": []any{1}}); err != nil {
		t.Errorf("eligibility data with a thresholds key: %v, want valid", err)
	}
	if got := TenantThresholds(map[string]any{"thresholds": map[string]any{"max_redeemables_per_request": 3.0}}); got["max_redeemables_per_request"] != 3.0 {
		t.Errorf("TenantThresholds = %v", got)
	}
	if got := TenantThresholds(nil); got == nil || len(got) != 0 {
		t.Errorf("TenantThresholds(nil) = %v, want an empty object", got)
	}
}
