package integration_test

import (
	"cmp"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/punchcard-loyalty/punchcard/platform/httpapi"
)

// fixture is what the owning tenant has before another tenant probes it.
type fixture struct {
	owner        tenant
	customerID   string
	sourceID     string
	campaignID   string
	campaignName string
	voucherCode  string
	redemptionID string
	actionID     string
	tierID       string
	promotionID  string
	// policyVersion is a version of the owner's eligibility policy that the
	// attacker's own publishes (two per probe run) never reach.
	policyVersion string
}

// probe is what one matrix entry sends with the attacker's key.
type probe struct {
	method, path string
	body         any
	// missing is the same request naming an object that does not exist anywhere;
	// when set, the two answers must be identical but for the id and request id.
	missing string
	// id and missingID are the object references of path and missing.
	id, missingID string
}

// crossTenantMatrix names, for every tenant route, the requests that aim at the
// owner's objects. A route added to the table without an entry here fails the test.
func crossTenantMatrix(f fixture) map[string][]probe {
	const (
		ghost         = "cust_01KZZZZZZZZZZZZZZZZZZZZZZZ"
		ghostCampaign = "camp_01KZZZZZZZZZZZZZZZZZZZZZZZ"
	)
	// at aims one request at each reference of an owner's object, each paired with
	// the same request naming a reference that exists nowhere.
	at := func(method, prefix, suffix string, body any, refs ...[2]string) []probe {
		var out []probe
		for _, r := range refs {
			out = append(out, probe{method: method, path: prefix + r[0] + suffix, body: body,
				missing: prefix + r[1] + suffix, id: r[0], missingID: r[1]})
		}
		return out
	}
	customer := func(method, suffix string, body any) []probe {
		return at(method, "/v1/customers/", suffix, body, [2]string{f.customerID, ghost}, [2]string{f.sourceID, "no-such-source"})
	}
	campaign := func(method, suffix string, body any) []probe {
		return at(method, "/v1/campaigns/", suffix, body, [2]string{f.campaignID, ghostCampaign}, [2]string{f.campaignName, "no-such-campaign"})
	}
	voucher := func(method, suffix string, body any) []probe {
		return at(method, "/v1/vouchers/", suffix, body, [2]string{f.voucherCode, "NO-SUCH-CODE"})
	}
	return map[string][]probe{
		"POST /v1/customers": {
			{method: "POST", path: "/v1/customers", body: map[string]any{"id": f.customerID, "name": "x"}},
			{method: "POST", path: "/v1/customers", body: map[string]any{"source_id": f.sourceID}},
		},
		"GET /v1/customers":                         {{method: "GET", path: "/v1/customers?limit=100"}, {method: "GET", path: "/v1/customers?email=owner@example.com"}},
		"GET /v1/customers/:id":                     customer("GET", "", nil),
		"PUT /v1/customers/:id":                     customer("PUT", "", map[string]any{"name": "hijacked"}),
		"DELETE /v1/customers/:id":                  customer("DELETE", "", nil),
		"POST /v1/customers/:id/permanent-deletion": customer("POST", "/permanent-deletion", nil),
		"PUT /v1/customers/:id/consents":            customer("PUT", "/consents", map[string]any{"newsletter": false}),
		"POST /v1/campaigns": {
			{method: "POST", path: "/v1/campaigns", body: map[string]any{"name": f.campaignName, "campaign_type": "GIFT_VOUCHERS", "voucher": map[string]any{"gift": map[string]any{"amount": 100}}}},
		},
		"GET /v1/campaigns":              {{method: "GET", path: "/v1/campaigns?limit=100"}},
		"GET /v1/campaigns/:id":          campaign("GET", "", nil),
		"POST /v1/campaigns/:id/enable":  campaign("POST", "/enable", nil),
		"POST /v1/campaigns/:id/disable": campaign("POST", "/disable", nil),
		"POST /v1/vouchers": {
			{method: "POST", path: "/v1/vouchers", body: map[string]any{"code": f.voucherCode, "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 100}}},
		},
		"GET /v1/vouchers": append([]probe{{method: "GET", path: "/v1/vouchers?limit=100"}},
			at("GET", "/v1/vouchers?campaign_id=", "", nil, [2]string{f.campaignID, ghostCampaign}, [2]string{f.campaignName, "no-such-campaign"})...),
		"POST /v1/vouchers/import": {{method: "POST", path: "/v1/vouchers/import", body: []any{map[string]any{"code": f.voucherCode, "type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 1}}}}},
		"POST /v1/vouchers/:code": {
			{method: "POST", path: "/v1/vouchers/" + f.voucherCode, body: map[string]any{"type": "GIFT_VOUCHER", "gift": map[string]any{"amount": 100}}},
		},
		"GET /v1/vouchers/:code":          voucher("GET", "", nil),
		"POST /v1/vouchers/:code/enable":  voucher("POST", "/enable", nil),
		"POST /v1/vouchers/:code/disable": voucher("POST", "/disable", nil),
		"POST /v1/validations":            {{method: "POST", path: "/v1/validations", body: map[string]any{"redeemables": vouchers(f.voucherCode), "order": map[string]any{"amount": 1000}}}},
		"POST /v1/redemptions":            {{method: "POST", path: "/v1/redemptions", body: map[string]any{"redeemables": vouchers(f.voucherCode), "order": map[string]any{"amount": 1000}}}},
		"POST /v1/campaigns/:id/vouchers": campaign("POST", "/vouchers", map[string]any{"vouchers_count": 1}),
		"POST /v1/publications": {
			{method: "POST", path: "/v1/publications", body: map[string]any{"customer": map[string]any{"id": f.customerID}, "voucher": f.voucherCode}},
			{method: "POST", path: "/v1/publications", body: map[string]any{"customer": map[string]any{"source_id": f.sourceID}, "campaign": map[string]any{"id": f.campaignID}}},
		},
		"POST /v1/qualifications": {
			{method: "POST", path: "/v1/qualifications", body: map[string]any{"customer": map[string]any{"id": f.customerID}, "order": map[string]any{"amount": 1000}}},
			{method: "POST", path: "/v1/qualifications", body: map[string]any{"customer": map[string]any{"source_id": f.sourceID}, "scenario": "CUSTOMER_WALLET"}},
		},
		"GET /v1/promotions/:id/tiers":                       at("GET", "/v1/promotions/", "/tiers", nil, [2]string{f.promotionID, ghostCampaign}),
		"GET /v1/promotions/tiers/:id":                       at("GET", "/v1/promotions/tiers/", "", nil, [2]string{f.tierID, "promo_01KZZZZZZZZZZZZZZZZZZZZZZZ"}),
		"POST /v1/promotions/tiers/:id/enable":               at("POST", "/v1/promotions/tiers/", "/enable", nil, [2]string{f.tierID, "promo_01KZZZZZZZZZZZZZZZZZZZZZZZ"}),
		"POST /v1/promotions/tiers/:id/disable":              at("POST", "/v1/promotions/tiers/", "/disable", nil, [2]string{f.tierID, "promo_01KZZZZZZZZZZZZZZZZZZZZZZZ"}),
		"GET /v1/async-actions/:id":                          at("GET", "/v1/async-actions/", "", nil, [2]string{f.actionID, "aa_01KZZZZZZZZZZZZZZZZZZZZZZZ"}),
		"GET /v1/redemptions":                                {{method: "GET", path: "/v1/redemptions?limit=100"}, {method: "GET", path: "/v1/redemptions?customer=" + f.customerID}},
		"GET /v1/redemptions/:id":                            at("GET", "/v1/redemptions/", "", nil, [2]string{f.redemptionID, "r_01KZZZZZZZZZZZZZZZZZZZZZZZ"}),
		"POST /v1/redemptions/:id/rollbacks":                 at("POST", "/v1/redemptions/", "/rollbacks", nil, [2]string{f.redemptionID, "r_01KZZZZZZZZZZZZZZZZZZZZZZZ"}),
		"POST /v1/redemptions/:id/rollback":                  at("POST", "/v1/redemptions/", "/rollback", nil, [2]string{f.redemptionID, "r_01KZZZZZZZZZZZZZZZZZZZZZZZ"}),
		"GET /v1/stacking-rules":                             {{method: "GET", path: "/v1/stacking-rules"}},
		"PUT /v1/stacking-rules":                             {{method: "PUT", path: "/v1/stacking-rules", body: map[string]any{"exclusive_categories": []string{"x"}}}},
		"GET /v1/policies/:kind":                             {{method: "GET", path: "/v1/policies/eligibility"}},
		"PUT /v1/policies/:kind":                             {{method: "PUT", path: "/v1/policies/eligibility", body: map[string]any{"modules": map[string]any{"a.rego": "package punchcard.eligibility\n"}}}},
		"GET /v1/policies/:kind/versions/:version":           at("GET", "/v1/policies/eligibility/versions/", "", nil, [2]string{f.policyVersion, "999"}),
		"POST /v1/policies/:kind/versions/:version/activate": at("POST", "/v1/policies/eligibility/versions/", "/activate", nil, [2]string{f.policyVersion, "999"}),
		"POST /v1/policies/:kind/evaluate":                   {{method: "POST", path: "/v1/policies/eligibility/evaluate", body: map[string]any{"input": map[string]any{"customer": map[string]any{"source_id": f.sourceID}}}}},
		"GET /v1/audit-events":                               {{method: "GET", path: "/v1/audit-events"}, {method: "GET", path: "/v1/audit-events?resource_id=" + f.customerID}},
		"GET /v1/audit-events/export":                        {{method: "GET", path: "/v1/audit-events/export"}},
		"GET /v1/audit-events/verify":                        {{method: "GET", path: "/v1/audit-events/verify"}},
	}
}

var volatile = regexp.MustCompile(`"request_id":"[^"]*"`)

func TestCrossTenantMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		owner, attacker := s.newTenant(t), s.newTenant(t)
		var c struct {
			ID       string `json:"id"`
			SourceID string `json:"source_id"`
		}
		s.do(t, "POST", "/v1/customers", owner.bearer(), map[string]any{"source_id": "owner-" + owner.Slug, "email": "owner@example.com", "name": "Owner"}).decode(t, &c)
		s.do(t, "PUT", "/v1/customers/"+c.ID+"/consents", owner.bearer(), map[string]any{"newsletter": true}).wantStatus(t, http.StatusOK)
		var cp struct {
			ID string `json:"id"`
		}
		campaignName := "owner-campaign-" + owner.Slug
		s.do(t, "POST", "/v1/campaigns", owner.bearer(), map[string]any{"name": campaignName, "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": 2,
			"voucher": map[string]any{"discount": map[string]any{"type": "AMOUNT", "amount_off": 500}}}).decode(t, &cp)
		var vs struct {
			Vouchers []struct {
				ID   string `json:"id"`
				Code string `json:"code"`
			} `json:"vouchers"`
		}
		s.do(t, "GET", "/v1/vouchers?campaign_id="+cp.ID, owner.bearer(), nil).decode(t, &vs)
		if len(vs.Vouchers) != 2 {
			t.Fatalf("owner's campaign has %d vouchers, want 2", len(vs.Vouchers))
		}
		var red struct {
			ParentRedemption struct {
				ID string `json:"id"`
			} `json:"parent_redemption"`
			Redemptions []struct {
				ID string `json:"id"`
			} `json:"redemptions"`
		}
		s.do(t, "POST", "/v1/redemptions", owner.bearer(), map[string]any{"redeemables": vouchers(vs.Vouchers[1].Code), "order": map[string]any{"amount": 5000},
			"customer": map[string]any{"id": c.ID}}).decode(t, &red)
		if red.ParentRedemption.ID == "" || len(red.Redemptions) != 1 {
			t.Fatal("owner's redemption failed")
		}
		var action struct {
			AsyncActionID string `json:"async_action_id"`
		}
		s.do(t, "POST", "/v1/campaigns/"+cp.ID+"/vouchers?vouchers_count=2", owner.bearer(), nil).decode(t, &action)
		if action.AsyncActionID == "" {
			t.Fatal("owner's async action was not created")
		}
		var promo struct {
			ID        string `json:"id"`
			Promotion struct {
				Tiers []struct {
					ID string `json:"id"`
				} `json:"tiers"`
			} `json:"promotion"`
		}
		s.do(t, "POST", "/v1/campaigns", owner.bearer(), map[string]any{"name": "owner-promo-" + owner.Slug, "campaign_type": "PROMOTION",
			"promotion": map[string]any{"tiers": []any{map[string]any{"name": "Tier", "action": map[string]any{"discount": map[string]any{"type": "PERCENT", "percent_off": 5}}}}}}).decode(t, &promo)
		if len(promo.Promotion.Tiers) != 1 {
			t.Fatal("owner's promotion was not created")
		}
		ownerRule := "owner-policy-" + owner.Slug
		for range 5 {
			s.do(t, "PUT", "/v1/policies/eligibility", owner.bearer(), map[string]any{"modules": map[string]any{"owner.rego": "package punchcard.eligibility\n\n" +
				`deny contains {"code": "` + ownerRule + `", "message": "owner", "rule": "` + ownerRule + `"} if input.customer.source_id == "nobody"` + "\n"}}).wantStatus(t, http.StatusCreated)
		}
		f := fixture{owner: owner, policyVersion: "5", actionID: action.AsyncActionID, tierID: promo.Promotion.Tiers[0].ID, promotionID: promo.ID, customerID: c.ID, sourceID: "owner-" + owner.Slug, campaignID: cp.ID, campaignName: campaignName,
			voucherCode: vs.Vouchers[0].Code, redemptionID: red.ParentRedemption.ID}
		ownerIDs := []string{owner.ID, owner.KeyID, c.ID, f.sourceID, "owner@example.com", cp.ID, campaignName, vs.Vouchers[0].ID, vs.Vouchers[1].ID, vs.Vouchers[0].Code, vs.Vouchers[1].Code, red.ParentRedemption.ID, red.Redemptions[0].ID, action.AsyncActionID, promo.ID, promo.Promotion.Tiers[0].ID, ownerRule}
		var ownerEvents struct{ Data []struct{ ID string } }
		s.do(t, "GET", "/v1/audit-events", owner.bearer(), nil).decode(t, &ownerEvents)
		for _, e := range ownerEvents.Data {
			ownerIDs = append(ownerIDs, e.ID)
		}

		matrix := crossTenantMatrix(f)
		covered := 0
		// Creating routes run last: an upsert by the owner's source_id (or a campaign
		// named like the owner's, a voucher with the owner's code) legitimately creates
		// the attacker's own object, since such keys are unique per tenant, which later
		// lookups by that key would then find.
		routes := s.app.API("").Routes()
		creates := func(r httpapi.RouteInfo) int {
			return b2i(r.Method == "POST" && (!strings.Contains(r.Path, ":") || r.Path == "/v1/vouchers/:code"))
		}
		slices.SortStableFunc(routes, func(a, b httpapi.RouteInfo) int { return cmp.Compare(creates(a), creates(b)) })
		for _, r := range routes {
			if r.Auth != "tenant" {
				continue
			}
			key := r.Method + " " + r.Path
			probes, ok := matrix[key]
			if !ok {
				t.Errorf("route %s has no cross-tenant matrix entry", key)
				continue
			}
			covered++
			for _, p := range probes {
				for _, auth := range []headers{attacker.bearer(), attacker.appPair()} {
					got := s.do(t, p.method, p.path, auth, p.body)
					if got.status >= 500 {
						t.Fatalf("%s: %d %s", got.req, got.status, got.body)
					}
					for _, id := range ownerIDs {
						if strings.Contains(string(got.body), id) && !strings.Contains(p.path, id) && !bodyEchoesRequest(p.body, id) {
							t.Errorf("%s with another tenant's key leaks %q: %s", got.req, id, got.body)
						}
					}
					if p.missing == "" {
						continue
					}
					want := s.do(t, p.method, p.missing, auth, p.body)
					if got.status != http.StatusNotFound || want.status != http.StatusNotFound {
						t.Errorf("%s: status %d (missing object: %d), want 404 for both", got.req, got.status, want.status)
						continue
					}
					norm := func(b []byte, id string) string {
						return strings.ReplaceAll(volatile.ReplaceAllString(string(b), ""), id, "<id>")
					}
					if norm(got.body, p.id) != norm(want.body, p.missingID) {
						t.Errorf("%s: another tenant's object answers\n  %s\nbut a missing one answers\n  %s", got.req, got.body, want.body)
					}
					if got.header.Get("Content-Type") != want.header.Get("Content-Type") {
						t.Errorf("%s: content types differ", got.req)
					}
				}
			}
		}
		if covered == 0 {
			t.Fatal("no tenant routes found")
		}
		// The owner's customer is untouched.
		r := s.do(t, "GET", "/v1/customers/"+c.ID, owner.bearer(), nil)
		r.wantStatus(t, http.StatusOK)
		var after map[string]any
		r.decode(t, &after)
		if after["name"] != "Owner" {
			t.Fatalf("owner's customer changed: %s", r.body)
		}
		if v := verify(t, s, owner); !v.Valid {
			t.Fatalf("owner's chain: %+v", v)
		}
	})
}

func bodyEchoesRequest(body any, id string) bool {
	if body == nil {
		return false
	}
	b, _ := json.Marshal(body)
	return strings.Contains(string(b), id)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
