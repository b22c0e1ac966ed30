package campaigns

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

func TestPercentIsExact(t *testing.T) {
	for in, want := range map[string]Percent{"15": 1500, "12.5": 1250, "0.01": 1, "100": 10000, "33.33": 3333, "7.50": 750} {
		var p Percent
		if err := json.Unmarshal([]byte(in), &p); err != nil || p != want {
			t.Errorf("%s → %d, %v; want %d", in, p, err, want)
		}
	}
	for _, in := range []string{"12.345", "-5", `"15"`, "1e2", "true", "+3"} {
		var p Percent
		if err := json.Unmarshal([]byte(in), &p); err == nil {
			t.Errorf("%s accepted as %d", in, p)
		}
	}
	for p, want := range map[Percent]string{1500: "15", 1250: "12.5", 1: "0.01", 3333: "33.33"} {
		if b, _ := json.Marshal(p); string(b) != want {
			t.Errorf("%d → %s, want %s", p, b, want)
		}
	}
}

// field returns the field a validation error names.
func field(err error) string {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Field
	}
	return ""
}

func TestCampaignValidationNamesTheField(t *testing.T) {
	base := func() CampaignInput {
		var in CampaignInput
		if err := json.Unmarshal([]byte(`{"name":"Summer","campaign_type":"DISCOUNT_COUPONS","vouchers_count":10,
			"voucher":{"type":"DISCOUNT_VOUCHER","discount":{"type":"PERCENT","percent_off":15}}}`), &in); err != nil {
			t.Fatal(err)
		}
		return in
	}
	c, err := base().campaign()
	if err != nil {
		t.Fatalf("valid campaign rejected: %v", err)
	}
	if c.Voucher.Discount.Effect != EffectApplyToOrder || c.Voucher.CodeConfig.Length != DefaultCodeLength || c.Type != "AUTO_UPDATE" {
		t.Fatalf("defaults not filled: %+v", c)
	}
	i64 := func(v int64) *int64 { return &v }
	pct := func(v Percent) *Percent { return &v }
	cases := []struct {
		name, field string
		mutate      func(*CampaignInput)
	}{
		{"no name", "name", func(in *CampaignInput) { in.Name = " " }},
		{"unknown campaign type", "campaign_type", func(in *CampaignInput) { in.CampaignType = "LOTTERY" }},
		{"no voucher", "voucher", func(in *CampaignInput) { in.Voucher = nil }},
		{"unknown discount type", "voucher.discount.type", func(in *CampaignInput) { in.Voucher.Discount.Type = "BOGO" }},
		{"percent over 100", "voucher.discount.percent_off", func(in *CampaignInput) { in.Voucher.Discount.PercentOff = pct(100_01) }},
		{"percent zero", "voucher.discount.percent_off", func(in *CampaignInput) { in.Voucher.Discount.PercentOff = pct(0) }},
		{"negative amount limit", "voucher.discount.amount_limit", func(in *CampaignInput) { in.Voucher.Discount.AmountLimit = i64(-1) }},
		{"amount off on a percent discount", "voucher.discount.amount_off", func(in *CampaignInput) { in.Voucher.Discount.AmountOff = i64(5) }},
		{"amount discount without amount", "voucher.discount.amount_off", func(in *CampaignInput) {
			in.Voucher.Discount = &Discount{Type: DiscountAmount}
		}},
		{"absurd amount", "voucher.discount.amount_off", func(in *CampaignInput) {
			in.Voucher.Discount = &Discount{Type: DiscountAmount, AmountOff: i64(maxMoney + 1)}
		}},
		{"unit without type", "voucher.discount.unit_type", func(in *CampaignInput) {
			in.Voucher.Discount = &Discount{Type: DiscountUnit, UnitOff: i64(1)}
		}},
		{"wrong effect", "voucher.discount.effect", func(in *CampaignInput) { in.Voucher.Discount.Effect = EffectAddNewItems }},
		{"gift on coupons", "voucher.gift", func(in *CampaignInput) { in.Voucher.Gift = &Gift{Amount: 100} }},
		{"zero quantity", "voucher.redemption.quantity", func(in *CampaignInput) { in.Voucher.Redemption = &Redemption{Quantity: i64(0)} }},
		{"one-char charset", "voucher.code_config.charset", func(in *CampaignInput) { in.Voucher.CodeConfig.Charset = "A" }},
		{"pattern without #", "voucher.code_config.pattern", func(in *CampaignInput) { in.Voucher.CodeConfig.Pattern = "SUMMER" }},
		{"code space too small", "voucher.code_config", func(in *CampaignInput) { in.Voucher.CodeConfig = CodeConfig{Pattern: "S-##", Charset: "0123456789"} }},
		{"too many codes at once", "vouchers_count", func(in *CampaignInput) { in.VouchersCount = MaxAsyncGeneration + 1 }},
		{"negative count", "vouchers_count", func(in *CampaignInput) { in.VouchersCount = -1 }},
		{"day of week 7", "validity_day_of_week", func(in *CampaignInput) { in.ValidityDayOfWeek = []int{7} }},
		{"bad hour", "validity_hours.daily[0].start_time", func(in *CampaignInput) {
			in.ValidityHours = &ValidityHours{Daily: []DailyWindow{{StartTime: "25:00", ExpirationTime: "26:00", DaysOfWeek: []int{5}}}}
		}},
		{"empty window", "validity_hours.daily[1].expiration_time", func(in *CampaignInput) {
			in.ValidityHours = &ValidityHours{Daily: []DailyWindow{{StartTime: "17:00", ExpirationTime: "19:00", DaysOfWeek: []int{5}},
				{StartTime: "19:00", ExpirationTime: "19:00", DaysOfWeek: []int{5}}}}
		}},

		{"zero limit", "limits.total_redemptions", func(in *CampaignInput) { in.Limits = &Limits{TotalRedemptions: i64(0)} }},
		{"negative min order", "rules.min_order_amount", func(in *CampaignInput) { in.Rules = &Rules{MinOrderAmount: i64(-1)} }},
		{"empty segment", "rules.segments", func(in *CampaignInput) { in.Rules = &Rules{Segments: []string{""}} }},
		{"huge metadata", "metadata", func(in *CampaignInput) { in.Metadata = map[string]any{"x": strings.Repeat("a", metadata.MaxBytes)} }},
		{"empty metadata key", "metadata", func(in *CampaignInput) { in.Metadata = map[string]any{"": 1} }},
		{"empty rule metadata key", "rules.metadata", func(in *CampaignInput) { in.Rules = &Rules{Metadata: map[string]any{"": "x"}} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.mutate(&in)
			_, err := in.campaign()
			if err == nil || field(err) != c.field {
				t.Fatalf("err = %v (field %q), want a 400 naming %q", err, field(err), c.field)
			}
		})
	}
}

// Windows that run past midnight (22:00–02:00) or until it (18:00–00:00) are
// taken, as the eligibility policy reads them; a tier's errors name its field.
func TestDailyWindows(t *testing.T) {
	window := func(start, end string) *ValidityHours {
		return &ValidityHours{Daily: []DailyWindow{{StartTime: start, ExpirationTime: end, DaysOfWeek: []int{5}}}}
	}
	for _, w := range [][2]string{{"22:00", "02:00"}, {"18:00", "00:00"}, {"17:00", "19:00"}} {
		if err := checkSchedule("", nil, window(w[0], w[1])); err != nil {
			t.Errorf("window %s–%s refused: %v", w[0], w[1], err)
		}
	}
	off := int64(100)
	p := &PromotionInput{Tiers: []TierInput{{Name: "T", Action: TierAction{Discount: &Discount{Type: DiscountAmount, AmountOff: &off}},
		ValidityHours: window("17:00", "24:00")}}}
	if _, err := p.tiers(); field(err) != "promotion.tiers[0].validity_hours.daily[0].expiration_time" {
		t.Fatalf("a tier's bad window: %v (field %q)", err, field(err))
	}
}

func TestCodesFollowTheConfig(t *testing.T) {
	cfg := CodeConfig{Pattern: "SUMMER-####-##", Charset: "ABC123", Prefix: "P", Postfix: "!"}
	if err := cfg.normalize("code_config"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 2000 {
		code := cfg.generate()
		if len(code) != len("PSUMMER-1234-12!") || !strings.HasPrefix(code, "PSUMMER-") || !strings.HasSuffix(code, "!") || code[12] != '-' {
			t.Fatalf("code %q does not follow the pattern", code)
		}
		for _, r := range code[8:12] + code[13:15] {
			if !strings.ContainsRune(cfg.Charset, r) {
				t.Fatalf("code %q uses %q outside the charset", code, r)
			}
		}
		seen[code] = true
	}
	// 6^6 = 46,656 possible codes: 2,000 draws repeat some, but far from all.
	if len(seen) < 1900 {
		t.Fatalf("only %d distinct codes in 2000 draws", len(seen))
	}
	// The space must be 100 times the codes: 466 of 46,656 fit, 467 do not.
	if err := cfg.checkCapacity("code_config", 466); err != nil {
		t.Fatalf("466 codes of 46,656 refused: %v", err)
	}
	if err := cfg.checkCapacity("code_config", 467); err == nil {
		t.Fatal("467 codes of 46,656 accepted")
	}
}
