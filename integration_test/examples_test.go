package integration_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/policies"
)

// The worked examples of policies/README.md, each published through the API
// from policies/examples/<name> and checked with real validations (and, where the
// example depends on the day or on a plugin, with the dry run).

// exampleBodies reads policies/examples/name as punchcard policy check and test
// do (policies.ReadDir): a PUT /v1/policies/{kind} body per kind, test files
// included, with the kind's data document.
func exampleBodies(t *testing.T, name string) map[string]map[string]any {
	t.Helper()
	kinds, err := policies.ReadDir(os.DirFS(filepath.Join("..", "policies", "examples", name)))
	if err != nil || len(kinds) == 0 {
		t.Fatalf("example %s: %v (%d kinds)", name, err, len(kinds))
	}
	out := map[string]map[string]any{}
	for kind, p := range kinds {
		body := map[string]any{"modules": p.Modules}
		if p.Data != nil {
			body["data"] = p.Data
		}
		out[string(kind)] = body
	}
	return out
}

func publishExample(t *testing.T, s *server, tn tenant, name string) {
	t.Helper()
	for kind, body := range exampleBodies(t, name) {
		publish(t, s, tn, kind, body)
	}
}

// denies reports whether a dry run of kind on input denies with code.
func denies(t *testing.T, s *server, tn tenant, kind, code string, input map[string]any) bool {
	t.Helper()
	var ev evaluation
	r := s.do(t, "POST", "/v1/policies/"+kind+"/evaluate", tn.bearer(), map[string]any{"input": input})
	r.wantStatus(t, http.StatusOK) // an error body would read as "no deny"
	r.decode(t, &ev)
	for _, d := range ev.Deny {
		if d.Code == code {
			return true
		}
	}
	return false
}

func customerID(t *testing.T, s *server, tn tenant, body map[string]any) string {
	t.Helper()
	var c struct{ ID string }
	s.do(t, "POST", "/v1/customers", tn.bearer(), body).decode(t, &c)
	if c.ID == "" {
		t.Fatalf("customer not created from %v", body)
	}
	return c.ID
}

func inapplicable(v validation, key string) bool {
	return !v.Valid && len(v.Redeemables) == 1 && v.Redeemables[0].Status == "INAPPLICABLE" &&
		v.Redeemables[0].Result.Error != nil && v.Redeemables[0].Result.Error.Key == key
}

func TestExampleGermanyOnMondays(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publishExample(t, s, tn, "germany-mondays")
		_, codes := campaignCodes(t, s, tn, discountCampaign("de-mondays-"+tn.Slug, 1, map[string]any{"type": "PERCENT", "percent_off": 10},
			map[string]any{"metadata": map[string]any{"program": "germany_mondays"}}))
		de := customerID(t, s, tn, map[string]any{"source_id": "de-" + tn.Slug, "address": map[string]any{"country": "DE"}})
		fr := customerID(t, s, tn, map[string]any{"source_id": "fr-" + tn.Slug, "address": map[string]any{"country": "FR"}})
		monday := tenantNow(t).Weekday() == time.Monday
		if v := validateCode(t, s, tn, codes[0], map[string]any{"id": de}, 5000); v.Valid != monday {
			t.Fatalf("German customer today (Monday: %v): %+v", monday, v)
		}
		if v := validateCode(t, s, tn, codes[0], map[string]any{"id": fr}, 5000); !inapplicable(v, "germany_mondays_only") {
			t.Fatalf("French customer: %+v, want germany_mondays_only", v)
		}
		in := func(country string, weekday int) map[string]any {
			return map[string]any{"local": map[string]any{"weekday": weekday}, "customer": map[string]any{"address": map[string]any{"country": country}},
				"redeemable": map[string]any{"campaign": map[string]any{"metadata": map[string]any{"program": "germany_mondays"}}}}
		}
		if denies(t, s, tn, "eligibility", "germany_mondays_only", in("DE", 1)) || !denies(t, s, tn, "eligibility", "germany_mondays_only", in("DE", 2)) {
			t.Fatal("dry run: Germany on Monday must pass and on Tuesday be refused")
		}
	})
}

func TestExampleVIPDay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publishExample(t, s, tn, "vip-day")
		now := tenantNow(t)
		today := now.Format(time.DateOnly)
		_, codes := campaignCodes(t, s, tn, discountCampaign("vip-day-"+tn.Slug, 1, map[string]any{"type": "AMOUNT", "amount_off": 1000},
			map[string]any{"metadata": map[string]any{"vip_day": today}}))
		vip := customerID(t, s, tn, map[string]any{"source_id": "vip-" + tn.Slug, "metadata": map[string]any{"vip": true}})
		regular := customerID(t, s, tn, map[string]any{"source_id": "regular-" + tn.Slug})
		if v := validateCode(t, s, tn, codes[0], map[string]any{"id": vip}, 5000); !v.Valid {
			t.Fatalf("VIP customer on the day refused: %+v", v)
		}
		if v := validateCode(t, s, tn, codes[0], map[string]any{"id": regular}, 5000); !inapplicable(v, "vip_day_only") {
			t.Fatalf("regular customer: %+v, want vip_day_only", v)
		}
		var list struct {
			Customers []struct{ ID string } `json:"customers"`
		}
		s.do(t, "GET", "/v1/customers?segment=vip", tn.bearer(), nil).decode(t, &list)
		if len(list.Customers) != 1 || list.Customers[0].ID != vip {
			t.Fatalf("segment vip lists %+v, want the VIP alone", list)
		}
		tomorrow := now.AddDate(0, 0, 1).Format(time.DateOnly)
		in := map[string]any{"local": map[string]any{"date": tomorrow}, "customer": map[string]any{"segments": []string{"vip"}},
			"redeemable": map[string]any{"campaign": map[string]any{"metadata": map[string]any{"vip_day": today}}}}
		if !denies(t, s, tn, "eligibility", "vip_day_only", in) {
			t.Fatal("dry run: a VIP the day after must be refused")
		}
	})
}

func TestExampleGeneralVersusMemberDiscount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publishExample(t, s, tn, "member-discount")
		_, general := campaignCodes(t, s, tn, discountCampaign("general-15-"+tn.Slug, 1, map[string]any{"type": "PERCENT", "percent_off": 15},
			map[string]any{"metadata": map[string]any{"discount_family": "general"}}))
		_, member := campaignCodes(t, s, tn, discountCampaign("member-20-"+tn.Slug, 1, map[string]any{"type": "PERCENT", "percent_off": 20},
			map[string]any{"metadata": map[string]any{"discount_family": "member"}}))
		_, seasonal := campaignCodes(t, s, tn, discountCampaign("seasonal-5-"+tn.Slug, 1, map[string]any{"type": "PERCENT", "percent_off": 5}, nil))
		var v validation
		s.do(t, "POST", "/v1/validations", tn.bearer(), map[string]any{"redeemables": vouchers(member[0], general[0], seasonal[0]),
			"order": map[string]any{"amount": 10000}}).decode(t, &v)
		if len(v.Redeemables) != 3 { // not valid as a whole: the default application mode is ALL
			t.Fatalf("validation = %+v", v)
		}
		status := map[string]string{}
		for _, r := range v.Redeemables {
			status[r.ID] = r.Status
			if r.Status == "SKIPPED" && (r.Result.Details == nil || r.Result.Details.Key != "not_with_member_discount" || r.Result.Details.Rule != "tenant.general_vs_member") {
				t.Fatalf("skipped %s with %+v, want not_with_member_discount by tenant.general_vs_member", r.ID, r.Result.Details)
			}
		}
		if status[member[0]] != "APPLICABLE" || status[general[0]] != "SKIPPED" || status[seasonal[0]] != "APPLICABLE" {
			t.Fatalf("statuses = %v, want member and seasonal applied, general skipped", status)
		}
	})
}

func TestExampleOnlineOnlyCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publishExample(t, s, tn, "online-only")
		_, codes := campaignCodes(t, s, tn, discountCampaign("web-only-"+tn.Slug, 1, map[string]any{"type": "AMOUNT", "amount_off": 500},
			map[string]any{"metadata": map[string]any{"online_only": true}}))
		body := func(channel string) map[string]any {
			return map[string]any{"redeemables": vouchers(codes[0]), "order": map[string]any{"amount": 5000}, "metadata": map[string]any{"channel": channel}}
		}
		var v validation
		s.do(t, "POST", "/v1/validations", tn.bearer(), body("pos")).decode(t, &v)
		if !inapplicable(v, "online_only") {
			t.Fatalf("in-store validation = %+v, want online_only", v)
		}
		r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), body("pos"))
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "online_only") {
			t.Fatalf("in-store redemption: %d %s, want refused with online_only", r.status, r.body)
		}
		s.do(t, "POST", "/v1/validations", tn.bearer(), body("online")).decode(t, &v)
		if !v.Valid {
			t.Fatalf("online validation = %+v", v)
		}
	})
}

func TestExampleBlockList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publishExample(t, s, tn, "block-list") // eligibility.data.json blocks source_id fraudster-1
		_, codes := campaignCodes(t, s, tn, discountCampaign("block-list-"+tn.Slug, 1, map[string]any{"type": "AMOUNT", "amount_off": 500}, nil))
		fraudster := map[string]any{"id": customerID(t, s, tn, map[string]any{"source_id": "fraudster-1"})}
		if v := validateCode(t, s, tn, codes[0], fraudster, 5000); !inapplicable(v, "customer_blocked") {
			t.Fatalf("blocked customer = %+v, want customer_blocked", v)
		}
		if v := validateCode(t, s, tn, codes[0], map[string]any{"id": customerID(t, s, tn, map[string]any{"source_id": "regular-2"})}, 5000); !v.Valid {
			t.Fatalf("regular customer = %+v", v)
		}
		// The list changes by publishing data alone, the Rego as it was.
		body := exampleBodies(t, "block-list")["eligibility"]
		body["data"] = map[string]any{"blocked_customers": []string{}}
		publish(t, s, tn, "eligibility", body)
		if v := validateCode(t, s, tn, codes[0], fraudster, 5000); !v.Valid {
			t.Fatalf("after the list is emptied: %+v", v)
		}
	})
}

func TestExampleOnlyWhenItRains(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publishExample(t, s, tn, "rain")
		_, codes := campaignCodes(t, s, tn, discountCampaign("rain-"+tn.Slug, 1, map[string]any{"type": "PERCENT", "percent_off": 10},
			map[string]any{"metadata": map[string]any{"weather": "rain"}}))
		// No weather source is enabled for the tenant: the policy fails closed.
		if v := validateCode(t, s, tn, codes[0], nil, 5000); !inapplicable(v, "not_raining") {
			t.Fatalf("validation without weather = %+v, want not_raining", v)
		}
		in := func(precipitation float64) map[string]any {
			return map[string]any{"metadata": map[string]any{"weather": map[string]any{"precipitation": precipitation, "weather_code": 61}},
				"redeemable": map[string]any{"campaign": map[string]any{"metadata": map[string]any{"weather": "rain"}}}}
		}
		if denies(t, s, tn, "eligibility", "not_raining", in(2.5)) || !denies(t, s, tn, "eligibility", "not_raining", in(0)) {
			t.Fatal("dry run: rain must pass and a dry day be refused")
		}
	})
}
