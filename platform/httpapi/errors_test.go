package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// A type that decodes itself names what it expects, with the field's path.
func TestDecodeErrorsDescribeSelfDecodingTypes(t *testing.T) {
	var in struct {
		Voucher struct {
			Discount campaigns.Discount `json:"discount"`
		} `json:"voucher"`
	}
	err := jsonError(json.Unmarshal([]byte(`{"voucher":{"discount":{"type":"PERCENT","percent_off":12.345}}}`), &in))
	p, ok := problem.As(err)
	if !ok || p.Field != "voucher.discount.percent_off" ||
		!strings.Contains(p.Details, "expected a non-negative number with at most two decimals, got JSON number 12.345") {
		t.Fatalf("err = %#v", err)
	}
}
