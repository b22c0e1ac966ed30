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
	owner      tenant
	customerID string
	sourceID   string
}

// probe is what one matrix entry sends with the attacker's key.
type probe struct {
	method, path string
	body         any
	// missing is the same request naming an object that does not exist anywhere;
	// when set, the two answers must be identical but for the id and request id.
	missing string
}

// crossTenantMatrix names, for every tenant route, the requests that aim at the
// owner's objects. A route added to the table without an entry here fails the test.
func crossTenantMatrix(f fixture) map[string][]probe {
	const ghost = "cust_01KZZZZZZZZZZZZZZZZZZZZZZZ"
	byID := func(method, suffix string, body any) []probe {
		return []probe{
			{method: method, path: "/v1/customers/" + f.customerID + suffix, body: body, missing: "/v1/customers/" + ghost + suffix},
			{method: method, path: "/v1/customers/" + f.sourceID + suffix, body: body, missing: "/v1/customers/" + "no-such-source" + suffix},
		}
	}
	return map[string][]probe{
		"POST /v1/customers": {
			{method: "POST", path: "/v1/customers", body: map[string]any{"id": f.customerID, "name": "x"}},
			{method: "POST", path: "/v1/customers", body: map[string]any{"source_id": f.sourceID}},
		},
		"GET /v1/customers":                         {{method: "GET", path: "/v1/customers?limit=100"}, {method: "GET", path: "/v1/customers?email=owner@example.com"}},
		"GET /v1/customers/:id":                     byID("GET", "", nil),
		"PUT /v1/customers/:id":                     byID("PUT", "", map[string]any{"name": "hijacked"}),
		"DELETE /v1/customers/:id":                  byID("DELETE", "", nil),
		"POST /v1/customers/:id/permanent-deletion": byID("POST", "/permanent-deletion", nil),
		"PUT /v1/customers/:id/consents":            byID("PUT", "/consents", map[string]any{"newsletter": false}),
		"GET /v1/audit-events":                      {{method: "GET", path: "/v1/audit-events"}, {method: "GET", path: "/v1/audit-events?resource_id=" + f.customerID}},
		"GET /v1/audit-events/export":               {{method: "GET", path: "/v1/audit-events/export"}},
		"GET /v1/audit-events/verify":               {{method: "GET", path: "/v1/audit-events/verify"}},
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
		f := fixture{owner: owner, customerID: c.ID, sourceID: "owner-" + owner.Slug}
		ownerIDs := []string{owner.ID, owner.KeyID, c.ID, f.sourceID, "owner@example.com"}
		var ownerEvents struct{ Data []struct{ ID string } }
		s.do(t, "GET", "/v1/audit-events", owner.bearer(), nil).decode(t, &ownerEvents)
		for _, e := range ownerEvents.Data {
			ownerIDs = append(ownerIDs, e.ID)
		}

		matrix := crossTenantMatrix(f)
		covered := 0
		// Creating routes run last: an upsert by the owner's source_id legitimately
		// creates the attacker's own customer (source ids are unique per tenant), which
		// later lookups by that source id would then find.
		routes := s.app.API("").Routes()
		slices.SortStableFunc(routes, func(a, b httpapi.RouteInfo) int {
			return cmp.Compare(b2i(a.Method == "POST" && a.Path == "/v1/customers"), b2i(b.Method == "POST" && b.Path == "/v1/customers"))
		})
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
					idOf := func(path string) string {
						parts := strings.Split(strings.TrimPrefix(path, "/v1/customers/"), "/")
						return parts[0]
					}
					norm := func(b []byte, id string) string {
						return strings.ReplaceAll(volatile.ReplaceAllString(string(b), ""), id, "<id>")
					}
					if norm(got.body, idOf(p.path)) != norm(want.body, idOf(p.missing)) {
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
