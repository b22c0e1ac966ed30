package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/config"
)

type policyVersion struct {
	Kind    string            `json:"kind"`
	Version int               `json:"version"`
	Active  bool              `json:"active"`
	Digest  string            `json:"digest"`
	Modules map[string]string `json:"modules"`
}

type policyListing struct {
	ActiveVersion *int `json:"active_version"`
	Versions      []struct {
		Version int  `json:"version"`
		Active  bool `json:"active"`
	} `json:"versions"`
}

type evaluation struct {
	Version  string `json:"version"`
	Decision string `json:"decision"`
	Allowed  bool   `json:"allowed"`
	Deny     []struct {
		Code, Message, Rule string
	} `json:"deny"`
	Members          []string `json:"members"`
	EvaluationTimeUS int64    `json:"evaluation_time_us"`
}

// publish puts modules (and data) as kind's next version and returns it.
func publish(t *testing.T, s *server, tn tenant, kind string, body map[string]any) policyVersion {
	t.Helper()
	var v policyVersion
	r := s.do(t, "PUT", "/v1/policies/"+kind, tn.bearer(), body)
	r.wantStatus(t, http.StatusCreated)
	r.decode(t, &v)
	return v
}

// validateCode validates one voucher for customer (nil: none) on an order of amount.
func validateCode(t *testing.T, s *server, tn tenant, code string, customer map[string]any, amount int64) validation {
	t.Helper()
	body := map[string]any{"redeemables": vouchers(code), "order": map[string]any{"amount": amount}}
	if customer != nil {
		body["customer"] = customer
	}
	var v validation
	r := s.do(t, "POST", "/v1/validations", tn.bearer(), body)
	r.wantStatus(t, http.StatusOK) // an error body would read as "not valid"
	r.decode(t, &v)
	return v
}

const blockListPolicy = `package punchcard.eligibility

deny contains {"code": "customer_blocked", "message": "This customer may not use vouchers.", "rule": "tenant.block_list"} if {
	input.customer.source_id in data.tenant.blocked_customers
}
`

func TestPolicyPublishActivateAndRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		_, codes := campaignCodes(t, s, tn, discountCampaign("policies-"+tn.Slug, 2, map[string]any{"type": "AMOUNT", "amount_off": 500}, nil))
		blocked := map[string]any{"id": customerID(t, s, tn, map[string]any{"source_id": "blocked-" + tn.Slug})}
		if v := validateCode(t, s, tn, codes[0], blocked, 5000); !v.Valid {
			t.Fatalf("before any policy the voucher is not valid: %+v", v)
		}

		var l policyListing
		s.do(t, "GET", "/v1/policies/eligibility", tn.bearer(), nil).decode(t, &l)
		if l.ActiveVersion != nil || len(l.Versions) != 0 {
			t.Fatalf("new tenant has policy versions: %+v", l)
		}

		// v1: the block list as a data document.
		v1 := publish(t, s, tn, "eligibility", map[string]any{
			"modules": map[string]any{"block_list.rego": blockListPolicy},
			"data":    map[string]any{"blocked_customers": []string{"blocked-" + tn.Slug}},
		})
		if v1.Version != 1 || !v1.Active || !strings.HasPrefix(v1.Digest, "sha256:") {
			t.Fatalf("first version = %+v", v1)
		}
		v := validateCode(t, s, tn, codes[0], blocked, 5000)
		if v.Valid || v.Redeemables[0].Status != "INAPPLICABLE" || v.Redeemables[0].Result.Error == nil ||
			v.Redeemables[0].Result.Error.Key != "customer_blocked" || v.Redeemables[0].Result.Error.Rule != "tenant.block_list" {
			t.Fatalf("blocked customer's validation = %+v, want INAPPLICABLE customer_blocked by tenant.block_list", v)
		}
		if v := validateCode(t, s, tn, codes[0], map[string]any{"id": customerID(t, s, tn, map[string]any{"source_id": "fine-" + tn.Slug})}, 5000); !v.Valid {
			t.Fatalf("a customer not on the list is refused: %+v", v)
		}

		// A module that does not compile: 422 with file, row and column; v1 stays active.
		r := s.do(t, "PUT", "/v1/policies/eligibility", tn.bearer(), map[string]any{
			"modules": map[string]any{"broken.rego": "package punchcard.eligibility\n\ndeny contains x if {\n\tx := undefined_thing\n}\n"},
		})
		r.wantError(t, http.StatusUnprocessableEntity, "policy_invalid", "broken.rego")
		var problems struct {
			Errors []struct {
				File    string `json:"file"`
				Row     int    `json:"row"`
				Col     int    `json:"col"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		r.decode(t, &problems)
		if len(problems.Errors) == 0 || problems.Errors[0].File != "broken.rego" || problems.Errors[0].Row != 4 || problems.Errors[0].Col == 0 {
			t.Fatalf("compile errors = %s, want broken.rego row 4 with a column", r.body)
		}
		s.do(t, "GET", "/v1/policies/eligibility", tn.bearer(), nil).decode(t, &l)
		if l.ActiveVersion == nil || *l.ActiveVersion != 1 || len(l.Versions) != 1 {
			t.Fatalf("after a failed publish: %+v, want version 1 alone and active", l)
		}

		// v2 lifts the block (no modules, empty list); the customer is served again.
		v2 := publish(t, s, tn, "eligibility", map[string]any{
			"modules": map[string]any{"block_list.rego": blockListPolicy},
			"data":    map[string]any{"blocked_customers": []string{}},
		})
		if v2.Version != 2 {
			t.Fatalf("second version = %d", v2.Version)
		}
		if v := validateCode(t, s, tn, codes[0], blocked, 5000); !v.Valid {
			t.Fatalf("after v2 the customer is still refused: %+v", v)
		}
		// Rollback to v1: refused again, with no restart.
		var act policyVersion
		s.do(t, "POST", "/v1/policies/eligibility/versions/1/activate", tn.bearer(), nil).decode(t, &act)
		if act.Version != 1 || !act.Active {
			t.Fatalf("activate = %+v", act)
		}
		if v := validateCode(t, s, tn, codes[0], blocked, 5000); v.Valid {
			t.Fatalf("after rolling back to v1 the blocked customer is served: %+v", v)
		}
		s.do(t, "GET", "/v1/policies/eligibility", tn.bearer(), nil).decode(t, &l)
		if l.ActiveVersion == nil || *l.ActiveVersion != 1 || len(l.Versions) != 2 || l.Versions[0].Version != 2 || l.Versions[0].Active {
			t.Fatalf("listing after rollback = %+v", l)
		}
		for n, want := range map[string]bool{"1": true, "2": false} {
			var got policyVersion
			s.do(t, "GET", "/v1/policies/eligibility/versions/"+n, tn.bearer(), nil).decode(t, &got)
			if got.Version == 0 || got.Active != want || got.Modules["block_list.rego"] == "" {
				t.Fatalf("version %s after the rollback = %+v, want active %v", n, got, want)
			}
		}
		s.do(t, "POST", "/v1/policies/eligibility/versions/9/activate", tn.bearer(), nil).wantError(t, http.StatusNotFound, "not_found", "")
		s.do(t, "POST", "/v1/policies/eligibility/versions/x/activate", tn.bearer(), nil).wantError(t, http.StatusBadRequest, "invalid_payload", "version")
		s.do(t, "GET", "/v1/policies/pricing", tn.bearer(), nil).wantError(t, http.StatusNotFound, "not_found", "")

		// Every publish and activation is audited with the module diff.
		if n := auditCount(t, s, tn, "policy.published"); n != 2 {
			t.Fatalf("policy.published events = %d, want 2", n)
		}
		var after string
		err := s.app.DB.Read(context.Background(), tn.ID, func(ctx context.Context, tx bun.Tx) error {
			return tx.QueryRowContext(ctx, "SELECT after FROM audit_events WHERE tenant_id = ? AND action = 'policy.activated'", tn.ID).Scan(&after)
		})
		if err != nil {
			t.Fatal(err)
		}
		var event struct {
			Version int    `json:"version"`
			Diff    string `json:"diff"`
		}
		if err := json.Unmarshal([]byte(after), &event); err != nil {
			t.Fatal(err)
		}
		if event.Version != 1 || !strings.Contains(event.Diff, "--- a/data.json") || !strings.Contains(event.Diff, `+    "blocked-`+tn.Slug) {
			t.Fatalf("activation audit event = %s, want version 1 and the data document's diff", after)
		}

		// Roles: a marketer may not publish; an auditor may read.
		marketer := s.keyWithRole(t, tn, "marketer")
		s.do(t, "PUT", "/v1/policies/eligibility", marketer.bearer(), map[string]any{"modules": map[string]any{}}).wantStatus(t, http.StatusForbidden)
		auditor := s.keyWithRole(t, tn, "auditor")
		s.do(t, "GET", "/v1/policies/eligibility", auditor.bearer(), nil).wantStatus(t, http.StatusOK)
	})
}

func TestPolicyDryRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publish(t, s, tn, "eligibility", map[string]any{
			"modules": map[string]any{"block_list.rego": blockListPolicy},
			"data":    map[string]any{"blocked_customers": []string{"c-1"}},
		})
		input := func(sourceID string) map[string]any {
			return map[string]any{"input": map[string]any{
				"now": "2026-11-20T17:30:00Z", "local": map[string]any{"date": "2026-11-20", "weekday": 5, "hour": 18, "minute": 30},
				"channel":  "online",
				"customer": map[string]any{"id": "cust_x", "source_id": sourceID, "segments": []any{}, "metadata": map[string]any{}},
				"order":    map[string]any{"amount": 5000, "items": []any{}, "metadata": map[string]any{}},
				"redeemable": map[string]any{"object": "voucher", "id": "CODE", "active": true,
					"campaign": map[string]any{"id": "camp_x", "active": true, "rules": map[string]any{}, "limits": map[string]any{}}},
			}}
		}
		var ev evaluation
		s.do(t, "POST", "/v1/policies/eligibility/evaluate", tn.bearer(), input("c-1")).decode(t, &ev)
		if ev.Decision != "deny" || ev.Allowed || len(ev.Deny) != 1 || ev.Deny[0].Code != "customer_blocked" || ev.Deny[0].Rule != "tenant.block_list" || ev.Version != "1" {
			t.Fatalf("dry run for a blocked customer = %+v", ev)
		}
		if ev.EvaluationTimeUS <= 0 {
			t.Fatalf("dry run reports no evaluation time: %+v", ev)
		}
		s.do(t, "POST", "/v1/policies/eligibility/evaluate", tn.bearer(), input("c-2")).decode(t, &ev)
		if ev.Decision != "allow" || !ev.Allowed || len(ev.Deny) != 0 {
			t.Fatalf("dry run for another customer = %+v", ev)
		}
		// A given version, and the base policies of a kind with none.
		body := input("c-1")
		body["version"] = 1
		s.do(t, "POST", "/v1/policies/eligibility/evaluate", tn.bearer(), body).decode(t, &ev)
		if ev.Decision != "deny" {
			t.Fatalf("dry run of version 1 = %+v", ev)
		}
		body["version"] = 7
		s.do(t, "POST", "/v1/policies/eligibility/evaluate", tn.bearer(), body).wantError(t, http.StatusNotFound, "not_found", "")
		s.do(t, "POST", "/v1/policies/fraud/evaluate", tn.bearer(), map[string]any{"input": map[string]any{"redeemables": []any{}}}).decode(t, &ev)
		if ev.Version != "base" {
			t.Fatalf("fraud dry run without a tenant version = %+v", ev)
		}
		s.do(t, "POST", "/v1/policies/eligibility/evaluate", tn.bearer(), map[string]any{}).wantError(t, http.StatusBadRequest, "invalid_payload", "input")
	})
}

// A tenant's policy never changes another tenant's decisions: the same code,
// campaign and customer at two tenants, one denying everything.
func TestTenantPolicyStaysWithItsTenant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		a, b := s.newTenant(t), s.newTenant(t)
		code := "SAME-" + strings.ToUpper(a.Slug)
		for _, tn := range []tenant{a, b} {
			s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": code, "type": "DISCOUNT_VOUCHER",
				"discount": map[string]any{"type": "AMOUNT", "amount_off": 100}}).wantStatus(t, http.StatusOK)
		}
		publish(t, s, a, "eligibility", map[string]any{"modules": map[string]any{"deny_all.rego": `package punchcard.eligibility

deny contains {"code": "closed", "message": "Closed for maintenance.", "rule": "tenant.closed"}
`}})
		publish(t, s, a, "fraud", map[string]any{"modules": map[string]any{"deny_all.rego": `package punchcard.fraud

deny contains {"code": "fraud_closed", "message": "Closed.", "rule": "tenant.closed"}
`}})
		customer := map[string]any{"source_id": "shared-customer"}
		if v := validateCode(t, s, a, code, customer, 1000); v.Valid {
			t.Fatalf("tenant A's deny-all policy lets the voucher through: %+v", v)
		}
		if v := validateCode(t, s, b, code, customer, 1000); !v.Valid {
			t.Fatalf("tenant B is refused by tenant A's policy: %+v", v)
		}
		var l policyListing
		s.do(t, "GET", "/v1/policies/eligibility", b.bearer(), nil).decode(t, &l)
		if l.ActiveVersion != nil || len(l.Versions) != 0 {
			t.Fatalf("tenant B sees policy versions: %+v", l)
		}
	})
}

const segmentsPolicy = `package punchcard.segments

member contains "germany" if upper(input.customer.address.country) in {"DE", "GERMANY"}

member contains "big_spenders_last_year" if {
	last_year := format_int(to_number(substring(input.local.date, 0, 4)) - 1, 10)
	input.customer.stats.spent_by_year[last_year] > 100000
}
`

func TestSegments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		publish(t, s, tn, "segments", map[string]any{"modules": map[string]any{"segments.rego": segmentsPolicy}})
		ids := map[string]string{}
		for name, country := range map[string]string{"de": "DE", "fr": "FR", "de2": "Germany"} {
			var c struct{ ID string }
			s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": name + "-" + tn.Slug,
				"address": map[string]any{"country": country}}).decode(t, &c)
			ids[name] = c.ID
		}
		// In a campaign's rules.segments.
		_, codes := campaignCodes(t, s, tn, discountCampaign("germany-"+tn.Slug, 1, map[string]any{"type": "PERCENT", "percent_off": 10},
			map[string]any{"rules": map[string]any{"segments": []string{"germany"}}}))
		if v := validateCode(t, s, tn, codes[0], map[string]any{"id": ids["de"]}, 5000); !v.Valid {
			t.Fatalf("customer in Germany refused: %+v", v)
		}
		v := validateCode(t, s, tn, codes[0], map[string]any{"id": ids["fr"]}, 5000)
		if v.Valid || v.Redeemables[0].Result.Error == nil || v.Redeemables[0].Result.Error.Rule != "rules.segments" {
			t.Fatalf("customer in France = %+v, want refused by rules.segments", v)
		}
		// In GET /v1/customers?segment=.
		var list struct {
			Customers []struct{ ID string } `json:"customers"`
			Total     int64                 `json:"total"`
		}
		s.do(t, "GET", "/v1/customers?segment=germany&limit=100", tn.bearer(), nil).decode(t, &list)
		got := map[string]bool{}
		for _, c := range list.Customers {
			got[c.ID] = true
		}
		if len(got) != 2 || !got[ids["de"]] || !got[ids["de2"]] || list.Total != 2 {
			t.Fatalf("segment germany lists %+v, want the two German customers", list)
		}
		s.do(t, "GET", "/v1/customers?segment=germany&limit=1", tn.bearer(), nil).decode(t, &list)
		if len(list.Customers) != 1 || list.Total != 2 {
			t.Fatalf("first page of one = %+v", list)
		}
		next := list.Customers[0].ID
		s.do(t, "GET", "/v1/customers?segment=germany&limit=1&starting_after="+next, tn.bearer(), nil).decode(t, &list)
		if len(list.Customers) != 1 || list.Customers[0].ID == next {
			t.Fatalf("second page = %+v", list)
		}
		s.do(t, "GET", "/v1/customers?segment=nobody", tn.bearer(), nil).decode(t, &list)
		if len(list.Customers) != 0 || list.Total != 0 {
			t.Fatalf("an unknown segment lists %+v", list)
		}
		// Stats: spend last calendar year (in the tenant's time zone) from redemptions.
		var ev evaluation
		lastYear := time.Now().UTC().Year() - 1
		s.do(t, "POST", "/v1/policies/segments/evaluate", tn.bearer(), map[string]any{"input": map[string]any{
			"local":    map[string]any{"date": fmt.Sprintf("%d-03-01", lastYear+1)},
			"customer": map[string]any{"address": map[string]any{"country": "FR"}, "stats": map[string]any{"spent_by_year": map[string]any{fmt.Sprint(lastYear): 150000}}},
		}}).decode(t, &ev)
		if len(ev.Members) != 1 || ev.Members[0] != "big_spenders_last_year" {
			t.Fatalf("segments dry run = %+v, want big_spenders_last_year", ev)
		}
	})
}

// A segments policy that cannot decide a customer's segments refuses what the
// request asks instead of putting the customer in no segment: a segment may be
// what refuses the customer ("blocked").
func TestUndecidedSegmentsRefuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		eve := map[string]any{"source_id": "eve-" + tn.Slug}
		s.do(t, "POST", "/v1/customers", tn.bearer(), eve).wantStatus(t, http.StatusOK)
		code := "SEG-" + strings.ToUpper(tn.Slug)
		s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": code, "type": "DISCOUNT_VOUCHER",
			"discount": map[string]any{"type": "AMOUNT", "amount_off": 100}}).wantStatus(t, http.StatusOK)
		publish(t, s, tn, "eligibility", map[string]any{"modules": map[string]any{"blocked.rego": `package punchcard.eligibility

deny contains {"code": "blocked_customer", "message": "Blocked.", "rule": "tenant.blocked"} if "blocked" in input.customer.segments
`}})
		blocked := `package punchcard.segments

member contains "blocked" if startswith(input.customer.source_id, "eve-")
`
		publish(t, s, tn, "segments", map[string]any{"modules": map[string]any{"blocked.rego": blocked}})
		if v := validateCode(t, s, tn, code, eve, 1000); v.Valid || v.Redeemables[0].Result.Error == nil || v.Redeemables[0].Result.Error.Key != "blocked_customer" {
			t.Fatalf("a blocked customer's validation = %+v, want refused as blocked_customer", v)
		}
		// The same segment, beside a rule that fails at evaluation (two values
		// for one complete rule): the customer's segments cannot be decided.
		publish(t, s, tn, "segments", map[string]any{"modules": map[string]any{"blocked.rego": blocked + `
tier := 1 if input.customer.source_id != ""

tier := 2 if input.customer.source_id != ""

member contains "tiered" if tier == 1
`}})
		v := validateCode(t, s, tn, code, eve, 1000)
		if v.Valid || v.Redeemables[0].Result.Error == nil || v.Redeemables[0].Result.Error.Key != "policy_error" {
			t.Fatalf("validation with undecided segments = %+v, want refused with policy_error", v)
		}
		s.do(t, "POST", "/v1/redemptions", tn.bearer(), map[string]any{"redeemables": vouchers(code), "order": map[string]any{"amount": 1000},
			"customer": eve}).wantError(t, http.StatusBadRequest, "policy_error", "")
		s.do(t, "GET", "/v1/customers?segment=blocked", tn.bearer(), nil).wantError(t, http.StatusUnprocessableEntity, "policy_error", "")
		s.do(t, "POST", "/v1/qualifications", tn.bearer(), map[string]any{"customer": eve, "order": map[string]any{"amount": 1000}}).
			wantError(t, http.StatusUnprocessableEntity, "policy_error", "")
		if n := countRows(t, s, tn.ID, "redemptions"); n != 0 {
			t.Fatalf("%d redemption rows written", n)
		}
	})
}

// R10: hostile Rego. Forbidden builtins are refused at upload with a clear
// error; runaway evaluation is cancelled at its deadline with a deny reason;
// other tenants are unaffected.
func TestHostilePolicies(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := startServer(b, func(c *config.Config) {
				c.DataDir = dir
				c.PolicyTimeout = 100 * time.Millisecond
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.stop()
			hostile, bystander := s.newTenant(t), s.newTenant(t)
			for name, src := range map[string]string{
				"http.send":          `deny contains r if { r := http.send({"method": "GET", "url": "http://169.254.169.254/"}) }`,
				"net.lookup_ip_addr": `deny contains r if { r := net.lookup_ip_addr("example.com") }`,
				"opa.runtime":        `deny contains r if { r := opa.runtime().env }`,
			} {
				r := s.do(t, "PUT", "/v1/policies/eligibility", hostile.bearer(), map[string]any{
					"modules": map[string]any{"evil.rego": "package punchcard.eligibility\n\n" + src + "\n"}})
				e := r.wantError(t, http.StatusUnprocessableEntity, "policy_invalid", "evil.rego")
				if !strings.Contains(string(r.body), name) {
					t.Errorf("%s refused with %+v, which does not name the builtin", name, e)
				}
			}
			// A 10 MB module never reaches the compiler.
			huge := "package punchcard.eligibility\n\n# " + strings.Repeat("x", 10<<20) + "\n"
			r := s.do(t, "PUT", "/v1/policies/eligibility", hostile.bearer(), map[string]any{"modules": map[string]any{"huge.rego": huge}})
			if r.status != http.StatusRequestEntityTooLarge && r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
				t.Fatalf("10 MB module: %d %s", r.status, r.body)
			}
			var l policyListing
			s.do(t, "GET", "/v1/policies/eligibility", hostile.bearer(), nil).decode(t, &l)
			if len(l.Versions) != 0 {
				t.Fatalf("a refused module was stored: %+v", l)
			}

			code := "HOSTILE-" + strings.ToUpper(hostile.Slug)
			for _, tn := range []tenant{hostile, bystander} {
				s.do(t, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": code, "type": "DISCOUNT_VOUCHER",
					"discount": map[string]any{"type": "AMOUNT", "amount_off": 100}}).wantStatus(t, http.StatusOK)
			}
			for name, src := range map[string]string{
				// The bound comes from the input (order amount 1,000 → 10^12), so no
				// upload-time check can see it coming.
				"huge range": `deny contains "too_many" if { count(numbers.range(1, input.order.amount * 1000000000)) > 0 }`,
				"cartesian":  `deny contains "pairs" if { count([[a, b] | some a in numbers.range(1, 100000); some b in numbers.range(1, 100000)]) > 0 }`,
			} {
				publish(t, s, hostile, "eligibility", map[string]any{"modules": map[string]any{"runaway.rego": "package punchcard.eligibility\n\n" + src + "\n"}})
				v := validateCode(t, s, hostile, code, nil, 1000)
				if v.Valid || v.Redeemables[0].Result.Error == nil || v.Redeemables[0].Result.Error.Key != "policy_timeout" {
					t.Fatalf("%s: validation = %+v, want refused with policy_timeout", name, v)
				}
				if v := validateCode(t, s, bystander, code, nil, 1000); !v.Valid {
					t.Fatalf("%s: the other tenant is refused: %+v", name, v)
				}
			}

			// A refusal by a policy that ran out of time is not the request's
			// answer: its Idempotency-Key does not keep it, and the retry, once
			// the policy is fixed, is carried out.
			h := hostile.bearer()
			h["Idempotency-Key"] = "timed-out-1"
			body := map[string]any{"redeemables": vouchers(code), "order": map[string]any{"amount": 1000}}
			s.do(t, "POST", "/v1/redemptions", h, body).wantError(t, http.StatusBadRequest, "policy_timeout", "")
			publish(t, s, hostile, "eligibility", map[string]any{"modules": map[string]any{"fixed.rego": "package punchcard.eligibility\n\ndeny contains \"never\" if { false }\n"}})
			r = s.do(t, "POST", "/v1/redemptions", h, body)
			r.wantStatus(t, http.StatusOK)
			if r.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("the retry was a replay: %s", r.body)
			}
			if again := s.do(t, "POST", "/v1/redemptions", h, body); again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("the redemption is not kept under its key: %d %s", again.status, again.body)
			}
		})
	}
}

// A tenant tunes the base fraud policy's thresholds in its fraud policy's data,
// without Rego; a threshold that is not one, or not a whole number, is refused
// with the field named and nothing published.
func TestFraudThresholdsFromPolicyData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		customer := map[string]any{"id": newCustomer(t, s, tn, "tuned")}
		centVoucher(t, s, tn, "TUNED")

		v1 := publish(t, s, tn, "fraud", map[string]any{"data": map[string]any{"thresholds": map[string]any{"max_validations_per_customer_per_minute": 3}}})
		for i := range 3 {
			if v := validateCode(t, s, tn, "TUNED", customer, 100); !v.Valid {
				t.Fatalf("validation %d under a threshold of 3: %+v", i+1, v)
			}
		}
		if v := validateCode(t, s, tn, "TUNED", customer, 100); v.Valid || v.Redeemables[0].Result.Error.Key != "velocity_exceeded" {
			t.Fatalf("4th validation under a threshold of 3: %+v, want velocity_exceeded", v)
		}

		for field, thresholds := range map[string]map[string]any{
			"data.thresholds.max_validations_per_minute":              {"max_validations_per_minute": 3},
			"data.thresholds.max_validations_per_customer_per_minute": {"max_validations_per_customer_per_minute": 2.5},
		} {
			s.do(t, "PUT", "/v1/policies/fraud", tn.bearer(), map[string]any{"data": map[string]any{"thresholds": thresholds}}).
				wantError(t, http.StatusBadRequest, "invalid_payload", field)
		}
		var l policyListing
		s.do(t, "GET", "/v1/policies/fraud", tn.bearer(), nil).decode(t, &l)
		if len(l.Versions) != 1 || l.ActiveVersion == nil || *l.ActiveVersion != v1.Version {
			t.Fatalf("after refused publishes: %+v, want only version %d, active", l, v1.Version)
		}

		// 0 switches the check off.
		publish(t, s, tn, "fraud", map[string]any{"data": map[string]any{"thresholds": map[string]any{"max_validations_per_customer_per_minute": 0}}})
		if v := validateCode(t, s, tn, "TUNED", customer, 100); !v.Valid {
			t.Fatalf("validation with the check off: %+v", v)
		}
	})
}
