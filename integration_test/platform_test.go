package integration_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/config"
)

func TestCustomerRoundTripWithBothAuthStyles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		for name, auth := range map[string]headers{"bearer": tn.bearer(), "app id and token": tn.appPair()} {
			t.Run(name, func(t *testing.T) {
				src := "crm-" + strings.ReplaceAll(name, " ", "-")
				res := s.do(t, "POST", "/v1/customers", auth, map[string]any{
					"source_id": src, "name": "Ada Lovelace", "email": "ada@example.com",
					"address": map[string]any{"city": "London", "country": "GB"}, "metadata": map[string]any{"tier_hint": "gold", "visits": 12345678901234567},
				})
				res.wantStatus(t, http.StatusOK)
				if res.header.Get("X-Request-Id") == "" || res.header.Get("X-Trace-Id") == "" {
					t.Fatalf("write response lacks X-Request-Id or X-Trace-Id: %v", res.header)
				}
				var c map[string]any
				res.decode(t, &c)
				id, _ := c["id"].(string)
				if !strings.HasPrefix(id, "cust_") || c["object"] != "customer" || c["source_id"] != src {
					t.Fatalf("created customer %s", res.body)
				}
				if !strings.Contains(string(res.body), `"visits":12345678901234567`) {
					t.Fatalf("metadata number not kept exactly: %s", res.body)
				}
				for _, key := range []string{id, src} {
					got := s.do(t, "GET", "/v1/customers/"+key, auth, nil)
					got.wantStatus(t, http.StatusOK)
					var g map[string]any
					got.decode(t, &g)
					if g["id"] != id || g["email"] != "ada@example.com" {
						t.Fatalf("GET %s returned %s", key, got.body)
					}
				}
				upd := s.do(t, "PUT", "/v1/customers/"+id, auth, map[string]any{"name": "Ada King"})
				upd.wantStatus(t, http.StatusOK)
				var u map[string]any
				upd.decode(t, &u)
				if u["name"] != "Ada King" || u["email"] != "ada@example.com" {
					t.Fatalf("update lost fields: %s", upd.body)
				}
				// Upsert by source_id updates the same customer.
				again := s.do(t, "POST", "/v1/customers", auth, map[string]any{"source_id": src, "phone": "+44 20 7946 0000"})
				again.wantStatus(t, http.StatusOK)
				var a map[string]any
				again.decode(t, &a)
				if a["id"] != id || a["name"] != "Ada King" {
					t.Fatalf("upsert by source_id did not update the same customer: %s", again.body)
				}
				s.do(t, "DELETE", "/v1/customers/"+id, auth, nil).wantStatus(t, http.StatusNoContent)
				s.do(t, "GET", "/v1/customers/"+id, auth, nil).wantError(t, http.StatusNotFound, "not_found", id)
			})
		}
	})
}

func TestAuthenticationFailures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		cases := []struct {
			name string
			h    headers
		}{
			{"no credentials", headers{}},
			{"wrong secret", headers{"Authorization": "Bearer sk_not_a_real_key"}},
			{"basic scheme", headers{"Authorization": "Basic " + tn.Secret}},
			{"app id with another key's token", headers{"X-App-Id": tn.KeyID, "X-App-Token": tn.Secret + "x"}},
			{"operator token as tenant key", s.operatorAuth()},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s.do(t, "GET", "/v1/customers", c.h, nil).wantError(t, http.StatusUnauthorized, "unauthorized", "")
			})
		}
		t.Run("revoked key", func(t *testing.T) {
			k := s.keyWithRole(t, tn, "support")
			s.do(t, "GET", "/v1/customers", k.bearer(), nil).wantStatus(t, http.StatusOK)
			s.do(t, "DELETE", "/operator/v1/api-keys/"+k.KeyID, s.operatorAuth(), nil).wantStatus(t, http.StatusOK)
			s.do(t, "GET", "/v1/customers", k.bearer(), nil).wantError(t, http.StatusUnauthorized, "unauthorized", "revoked")
		})
		t.Run("operator API refuses tenant keys", func(t *testing.T) {
			s.do(t, "GET", "/operator/v1/tenants", tn.bearer(), nil).wantError(t, http.StatusUnauthorized, "unauthorized", "operator")
		})
	})
}

func TestRolesAreEnforcedPerRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		pos := s.keyWithRole(t, tn, "pos")
		auditor := s.keyWithRole(t, tn, "auditor")
		s.do(t, "POST", "/v1/customers", pos.bearer(), map[string]any{"source_id": "p1"}).wantStatus(t, http.StatusOK)
		s.do(t, "GET", "/v1/audit-events", pos.bearer(), nil).wantError(t, http.StatusForbidden, "forbidden_role", "pos")
		s.do(t, "GET", "/v1/audit-events", auditor.bearer(), nil).wantStatus(t, http.StatusOK)
		s.do(t, "POST", "/v1/customers", auditor.bearer(), map[string]any{"source_id": "a1"}).wantError(t, http.StatusForbidden, "forbidden_role", "auditor")
		s.do(t, "GET", "/v1/customers/p1", auditor.bearer(), nil).wantError(t, http.StatusForbidden, "forbidden_role", "auditor")
	})
}

func TestSuspendedTenantGets403OnEveryCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "s1"}).wantStatus(t, http.StatusOK)
		s.do(t, "POST", "/operator/v1/tenants/"+tn.Slug+"/suspend", s.operatorAuth(), nil).wantStatus(t, http.StatusOK)
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/customers"}, {"GET", "/v1/customers/s1"}, {"POST", "/v1/customers"}, {"GET", "/v1/audit-events"},
		} {
			s.do(t, r.method, r.path, tn.bearer(), map[string]any{"source_id": "s2"}).wantError(t, http.StatusForbidden, "tenant_suspended", "suspended")
			s.do(t, r.method, r.path, tn.appPair(), map[string]any{"source_id": "s2"}).wantError(t, http.StatusForbidden, "tenant_suspended", "suspended")
		}
		s.do(t, "POST", "/operator/v1/tenants/"+tn.Slug+"/activate", s.operatorAuth(), nil).wantStatus(t, http.StatusOK)
		s.do(t, "GET", "/v1/customers/s1", tn.bearer(), nil).wantStatus(t, http.StatusOK)
	})
}

func TestRateLimitPerTenant(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, err := startServer(b, func(c *config.Config) {
				c.DataDir = t.TempDir()
				c.RateLimit, c.RateBurst = 1, 3
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.stop()
			limited, other := s.newTenant(t), s.newTenant(t)
			var got429 *response
			for i := 0; i < 10; i++ {
				r := s.do(t, "GET", "/v1/customers", limited.bearer(), nil)
				if r.status == http.StatusTooManyRequests {
					got429 = &r
					break
				}
				r.wantStatus(t, http.StatusOK)
			}
			if got429 == nil {
				t.Fatal("no 429 after 10 rapid calls with a burst of 3")
			}
			got429.wantError(t, http.StatusTooManyRequests, "too_many_requests", "requests per second")
			if ra := got429.header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("429 without a positive Retry-After: %q", ra)
			}
			// Another tenant is unaffected.
			s.do(t, "GET", "/v1/customers", other.bearer(), nil).wantStatus(t, http.StatusOK)
		})
	}
}

func TestOperatorTenantValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		anchor := s.newTenant(t)
		before := writes(t, s, anchor.ID)
		cases := []struct {
			name, field string
			body        any
		}{
			{"malformed JSON", "body", `{"slug": "x",`},
			{"wrong type", "slug", `{"slug": 42}`},
			{"bad slug", "slug", map[string]any{"slug": "Not A Slug!", "name": "x"}},
			{"bad currency", "currency", map[string]any{"slug": uniqueSlug("c"), "currency": "EURO"}},
			{"lowercase currency", "currency", map[string]any{"slug": uniqueSlug("c"), "currency": "eur"}},
			{"bad timezone", "timezone", map[string]any{"slug": uniqueSlug("c"), "timezone": "Mars/Olympus"}},
			{"empty body", "body", ""},
			{"oversize body", "body", `{"slug":"` + strings.Repeat("a", 2<<20) + `"}`},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s.do(t, "POST", "/operator/v1/tenants", s.operatorAuth(), c.body).wantError(t, http.StatusBadRequest, "", c.field)
			})
		}
		if after := writes(t, s, anchor.ID); after != before {
			t.Fatalf("rejected tenant creations wrote rows: %v → %v", before, after)
		}
		var slugs []string
		for _, c := range cases {
			// A slug no tenant could have (none, or past the 2 MiB body limit) is
			// not looked for.
			if slug := slugOf(c.body); slug != "" && len(slug) < 1<<20 {
				slugs = append(slugs, slug)
			}
		}
		if n := tenantsNamed(t, s, slugs...); n != 0 {
			t.Fatalf("rejected tenant creations made %d of the tenants %q", n, slugs)
		}
		tn := s.newTenant(t)
		s.do(t, "POST", "/operator/v1/tenants", s.operatorAuth(), map[string]any{"slug": tn.Slug}).wantError(t, http.StatusConflict, "duplicate_slug", tn.Slug)
		s.do(t, "POST", "/operator/v1/tenants/no-such-tenant/suspend", s.operatorAuth(), nil).wantError(t, http.StatusNotFound, "not_found", "no-such-tenant")
		s.do(t, "POST", "/operator/v1/tenants/"+tn.Slug+"/api-keys", s.operatorAuth(), map[string]any{"role": "root"}).wantError(t, http.StatusBadRequest, "", "role")
	})
}

func TestCustomerBadInputWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		var c struct {
			ID string `json:"id"`
		}
		s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "bad-input", "name": "Ada"}).decode(t, &c)
		before := writes(t, s, tn.ID)
		cases := []struct {
			name, method, path, field string
			body                      any
		}{
			{"malformed JSON", "POST", "/v1/customers", "body", `{"source_id": "x",`},
			{"not an object", "POST", "/v1/customers", "body", `[1, 2]`},
			{"wrong type", "POST", "/v1/customers", "source_id", `{"source_id": 42}`},
			{"wrong nested type", "POST", "/v1/customers", "address", `{"source_id": "n", "address": "Berlin"}`},
			{"bad email", "POST", "/v1/customers", "email", map[string]any{"source_id": "e", "email": "not-an-email"}},
			{"impossible date", "POST", "/v1/customers", "birthdate", map[string]any{"source_id": "d", "birthdate": "1990-02-30"}},
			{"NUL in source_id", "POST", "/v1/customers", "source_id", map[string]any{"source_id": "a\x00b"}},
			{"NUL in metadata", "POST", "/v1/customers", "metadata", map[string]any{"source_id": "m", "metadata": map[string]any{"k": "a\x00"}}},
			{"oversize body", "POST", "/v1/customers", "body", `{"source_id":"` + strings.Repeat("a", 2<<20) + `"}`},
			{"update with wrong type", "PUT", "/v1/customers/" + c.ID, "name", `{"name": ["Ada"]}`},
			{"NUL in path", "GET", "/v1/customers/a%00b", "id", nil},
			{"invalid UTF-8 in path", "DELETE", "/v1/customers/%ff%fe", "id", nil},
			{"NUL in a filter", "GET", "/v1/customers?email=a%00@example.com", "email", nil},
			{"bad limit", "GET", "/v1/customers?limit=ten", "limit", nil},
			{"bad consents", "PUT", "/v1/customers/" + c.ID + "/consents", "newsletter", `{"newsletter": "yes"}`},
		}
		for _, k := range cases {
			t.Run(k.name, func(t *testing.T) {
				s.do(t, k.method, k.path, tn.bearer(), k.body).wantError(t, http.StatusBadRequest, "", k.field)
			})
		}
		if after := writes(t, s, tn.ID); after != before {
			t.Fatalf("rejected requests wrote rows: %v → %v", before, after)
		}
	})
}

func TestHealthReadinessAndOpenAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		s.do(t, "GET", "/healthz", nil, nil).wantStatus(t, http.StatusOK)
		s.do(t, "GET", "/readyz", nil, nil).wantStatus(t, http.StatusOK)
		m := s.do(t, "GET", "/metrics", nil, nil)
		m.wantStatus(t, http.StatusOK)
		if !strings.Contains(string(m.body), "go_goroutines") {
			t.Fatalf("metrics lack runtime metrics")
		}
		doc := s.do(t, "GET", "/openapi.json", nil, nil)
		doc.wantStatus(t, http.StatusOK)
		var d struct {
			OpenAPI string                    `json:"openapi"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		doc.decode(t, &d)
		for _, r := range s.app.API("").Routes() {
			p := pathParamToOpenAPI(r.Path)
			if _, ok := d.Paths[p][strings.ToLower(r.Method)]; !ok {
				t.Errorf("route %s %s is missing from /openapi.json", r.Method, r.Path)
			}
		}
		s.do(t, "GET", "/v1/nothing-here", nil, nil).wantError(t, http.StatusNotFound, "not_found", "No route")
		wrong := s.do(t, "DELETE", "/v1/validations", nil, nil)
		wrong.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed", "DELETE")
		if allow := wrong.header.Get("Allow"); allow != "POST" {
			t.Fatalf("405 with Allow %q, want POST", allow)
		}
	})
}

func pathParamToOpenAPI(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func TestConcurrentWritesAcrossTenants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		a, b := s.newTenant(t), s.newTenant(t)
		var wg sync.WaitGroup
		errs := make(chan string, 100)
		for i := 0; i < 40; i++ {
			tn := a
			if i%2 == 1 {
				tn = b
			}
			wg.Go(func() {
				r := s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": fmt.Sprintf("c-%d", i)})
				if r.status != http.StatusOK {
					errs <- fmt.Sprintf("status %d: %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		for _, tn := range []tenant{a, b} {
			var l struct {
				Total int `json:"total"`
			}
			s.do(t, "GET", "/v1/customers?limit=100", tn.bearer(), nil).decode(t, &l)
			if l.Total != 20 {
				t.Errorf("tenant %s has %d customers, want 20", tn.Slug, l.Total)
			}
		}
		// Every write was audited and the chain verifies.
		waitVerified(t, s, a, 1+1+20)
	})
}

// waitVerified checks /verify is valid and covers at least minEvents events.
func waitVerified(t *testing.T, s *server, tn tenant, minEvents int) {
	t.Helper()
	var v struct {
		Valid             bool   `json:"valid"`
		Events            int    `json:"events"`
		HeadHash          string `json:"head_hash"`
		FirstInvalidEvent string `json:"first_invalid_event"`
	}
	s.do(t, "GET", "/v1/audit-events/verify", tn.bearer(), nil).decode(t, &v)
	if !v.Valid || v.Events < minEvents || len(v.HeadHash) != 64 {
		t.Fatalf("verify = %+v, want valid with at least %d events", v, minEvents)
	}
	_ = time.Second
}
