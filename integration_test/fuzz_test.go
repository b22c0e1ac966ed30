package integration_test

// R15: fuzz targets for the request decoders. Each drives a real server (SQLite in a
// temp dir, started once per fuzzing process) with arbitrary input and checks the
// invariants every request must keep: no 5xx, every error is a well-formed
// Voucherify error body naming what was wrong, and a rejected request writes nothing.
// `make fuzz-short` runs each for a few seconds in CI; `make fuzz` for longer.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"
)

var fuzzFixture struct {
	once       sync.Once
	s          *server
	tn         tenant
	customerID string
}

// fuzzCode is a voucher of the fuzz tenant, redeemable without limit.
const fuzzCode = "FUZZ-CODE"

// fuzzServer returns the process's fuzz server, a tenant and one of its customers.
func fuzzServer(f *testing.F) (*server, tenant, string) {
	f.Helper()
	fuzzFixture.once.Do(func() {
		s := sharedServer(f, backend{name: "sqlite"})
		tn := s.newTenant(f)
		var c struct {
			ID string `json:"id"`
		}
		s.do(f, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "fuzz-anchor", "name": "Anchor"}).decode(f, &c)
		s.do(f, "POST", "/v1/vouchers", tn.bearer(), map[string]any{"code": fuzzCode, "type": "DISCOUNT_VOUCHER",
			"discount": map[string]any{"type": "PERCENT", "percent_off": 10}}).wantStatus(f, http.StatusOK)
		fuzzFixture.s, fuzzFixture.tn, fuzzFixture.customerID = s, tn, c.ID
	})
	if fuzzFixture.s == nil {
		f.Fatal("fuzz server did not start")
	}
	return fuzzFixture.s, fuzzFixture.tn, fuzzFixture.customerID
}

// writes counts the rows a tenant's request could have written: the tenant's
// audit events, consents, customers, campaigns and vouchers. (Pending seals are
// left out: the sealer drains them concurrently. Tenants are counted by slug,
// tenantsNamed: other test packages create tenants in the same database.)
func writes(t *testing.T, s *server, tenantID string) [5]int {
	t.Helper()
	var n [5]int
	for i, table := range []string{"audit_events", "customer_consents", "customers", "campaigns", "vouchers"} {
		n[i] = countRows(t, s, tenantID, table)
	}
	return n
}

// tenantsNamed counts the instance's tenants with the slugs.
func tenantsNamed(t *testing.T, s *server, slugs ...string) int {
	t.Helper()
	var n int
	err := s.app.DB.InInstanceTx(context.Background(), "", func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE slug IN (?)", bun.List(slugs)).Scan(&n)
	})
	if err != nil {
		t.Fatalf("count tenants: %v", err)
	}
	return n
}

// slugOf is the slug a tenant creation's body asks for, or "" for none.
func slugOf(body any) string {
	var b []byte
	switch v := body.(type) {
	case map[string]any:
		slug, _ := v["slug"].(string)
		return slug
	case string:
		b = []byte(v)
	case []byte:
		b = v
	}
	var req struct {
		Slug any `json:"slug"`
	}
	if json.Unmarshal(b, &req) != nil {
		return ""
	}
	slug, _ := req.Slug.(string)
	return slug
}

// countRows counts a tenant's rows in table.
func countRows(t *testing.T, s *server, tenantID, table string) int {
	t.Helper()
	var n int
	err := s.app.DB.Read(context.Background(), tenantID, func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE tenant_id = ?", tenantID).Scan(&n)
	})
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// checkAnswer asserts the invariants for one fuzzed request.
func checkAnswer(t *testing.T, s *server, tenantID string, before [5]int, r response) {
	t.Helper()
	if r.status >= 500 {
		t.Fatalf("%s: %d %s", r.req, r.status, r.body)
	}
	if r.status < 400 {
		docs := [][]byte{r.body}
		switch {
		case r.status == http.StatusNoContent:
			docs = nil
		case strings.Contains(r.header.Get("Content-Type"), "ndjson"):
			docs = bytes.Split(bytes.TrimSuffix(r.body, []byte("\n")), []byte("\n"))
			if len(r.body) == 0 {
				docs = nil
			}
		}
		for _, d := range docs {
			if !json.Valid(d) {
				t.Fatalf("%s: %d with a body that is not JSON: %q", r.req, r.status, r.body)
			}
		}
		return
	}
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("%s: %d with a body that is not an error document: %q", r.req, r.status, r.body)
	}
	if e.Code != r.status || e.Key == "" || e.Message == "" || e.Details == "" || e.RequestID == "" {
		t.Fatalf("%s: malformed error body %s", r.req, r.body)
	}
	if after := writes(t, s, tenantID); after != before {
		t.Fatalf("%s: rejected with %d but rows changed %v → %v: %s", r.req, r.status, before, after, r.body)
	}
}

func FuzzCustomerUpsert(f *testing.F) {
	fuzzBody(f, "POST", func(s *server, tn tenant, _ string) (string, headers) { return "/v1/customers", tn.bearer() }, []string{
		`{"source_id":"c-1","name":"Ada","email":"ada@example.com","metadata":{"tier":"gold"}}`,
		`{"source_id":"c-2","address":{"city":"Berlin","country":"DE"},"birthdate":"1990-01-31"}`,
		`{"source_id":"","email":"not-an-email"}`,
		`{"source_id":7}`,
		`{"metadata":[1,2]}`,
		`{"source_id":"c-3","phone":null,"name":null}`,
		`[]`, `null`, `{`, `{"source_id":"\u0000"}`,
	})
}

func FuzzCustomerUpdate(f *testing.F) {
	fuzzBody(f, "PUT", func(s *server, tn tenant, id string) (string, headers) { return "/v1/customers/" + id, tn.bearer() }, []string{
		`{"name":"Grace"}`,
		`{"email":null}`,
		`{"metadata":{"a":1,"b":[true]}}`,
		`{"birthdate":"1990-02-30"}`,
		`{"address":"Berlin"}`,
		`{"source_id":"other"}`,
		`{"name":12}`, `{}`, `x`,
	})
}

// fuzzBody fuzzes the JSON body of one request; target gives its path and headers
// from the fixture (the server, the tenant and its anchor customer's id).
func fuzzBody(f *testing.F, method string, target func(s *server, tn tenant, customerID string) (string, headers), seeds []string) {
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	s, tn, id := fuzzServer(f)
	path, h := target(s, tn, id)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := writes(t, s, tn.ID)
		checkAnswer(t, s, tn.ID, before, s.do(t, method, path, h, body))
	})
}

// fuzzQuery fuzzes the query strings of GET paths with two key-value pairs.
func fuzzQuery(f *testing.F, paths ...string) {
	s, tn, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		q := url.Values{}
		q.Add(k1, v1)
		q.Add(k2, v2)
		before := writes(t, s, tn.ID)
		for _, p := range paths {
			checkAnswer(t, s, tn.ID, before, s.do(t, "GET", p+"?"+q.Encode(), tn.bearer(), nil))
		}
	})
}

func FuzzCustomerList(f *testing.F) {
	f.Add("limit", "10", "order", "-created_at")
	f.Add("limit", "0", "page", "2")
	f.Add("starting_after", "cust_01KZZZZZZZZZZZZZZZZZZZZZZZ", "order", "source_id")
	f.Add("created_at[after]", "2026-01-01T00:00:00Z", "email", "ada@example.com")
	f.Add("limit", "-1", "order", "nonsense")
	fuzzQuery(f, "/v1/customers")
}

func FuzzAuditQuery(f *testing.F) {
	f.Add("limit", "5", "action", "customer.created")
	f.Add("resource_type", "customer", "starting_after", "evt_x")
	f.Add("from", "2026-01-01T00:00:00Z", "to", "yesterday")
	f.Add("outcome", "failure", "actor", "key_1")
	f.Add("cursor", "not-a-cursor", "limit", "1000")
	fuzzQuery(f, "/v1/audit-events", "/v1/audit-events/export")
}

func FuzzOperatorTenantCreate(f *testing.F) {
	for _, seed := range []string{
		`{"slug":"fuzz-a","name":"A","currency":"EUR","timezone":"Europe/Berlin"}`,
		`{"slug":"Fuzz B","name":"B","currency":"EUR","timezone":"Europe/Berlin"}`,
		`{"slug":"fuzz-c","name":"C","currency":"XXX","timezone":"Mars/Olympus"}`,
		`{"slug":"fuzz-d","currency":7}`,
		`{"slug":"fuzz-e","name":"E","currency":"usd","timezone":"UTC","metadata":{}}`,
		`{}`, `""`,
	} {
		f.Add([]byte(seed))
	}
	s, tn, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before, slug := writes(t, s, tn.ID), slugOf(body)
		named := 0
		if slug != "" { // a creation without a slug is refused before it writes
			named = tenantsNamed(t, s, slug)
		}
		r := s.do(t, "POST", "/operator/v1/tenants", s.operatorAuth(), body)
		checkAnswer(t, s, tn.ID, before, r)
		if slug != "" && r.status >= 400 && tenantsNamed(t, s, slug) != named {
			t.Fatalf("%s: rejected with %d but created tenant %q: %s", r.req, r.status, slug, r.body)
		}
	})
}

func FuzzCampaignCreate(f *testing.F) {
	fuzzBody(f, "POST", func(s *server, tn tenant, _ string) (string, headers) { return "/v1/campaigns", tn.bearer() }, []string{
		`{"name":"Summer","campaign_type":"DISCOUNT_COUPONS","vouchers_count":3,"voucher":{"discount":{"type":"PERCENT","percent_off":12.5,"amount_limit":2000}}}`,
		`{"name":"Gifts","campaign_type":"GIFT_VOUCHERS","vouchers_count":1,"voucher":{"gift":{"amount":5000},"code_config":{"pattern":"G-####","charset":"ABC"}}}`,
		`{"name":"Hours","campaign_type":"DISCOUNT_COUPONS","voucher":{"discount":{"type":"AMOUNT","amount_off":500}},"validity_hours":{"daily":[{"start_time":"17:00","expiration_time":"19:00","days_of_week":[5]}]}}`,
		`{"name":"Rules","campaign_type":"DISCOUNT_COUPONS","voucher":{"discount":{"type":"UNIT","unit_off":1,"unit_type":"sku_1"}},"limits":{"per_customer":1},"rules":{"products":{"included":["p1"]}}}`,
		`{"name":"x","campaign_type":"DISCOUNT_COUPONS","voucher":{"discount":{"type":"FIXED","fixed_amount":1e3}}}`,
		`{"name":"y","campaign_type":"GIFT_VOUCHERS","voucher":{"gift":{"amount":-1}},"start_date":"not a date"}`,
	})
}

func FuzzVoucherCreate(f *testing.F) {
	fuzzBody(f, "POST", func(s *server, tn tenant, _ string) (string, headers) { return "/v1/vouchers", tn.bearer() }, []string{
		`{"code":"WELCOME","type":"DISCOUNT_VOUCHER","discount":{"type":"AMOUNT","amount_off":1000}}`,
		`{"type":"GIFT_VOUCHER","gift":{"amount":2500},"code_config":{"prefix":"G-","length":6}}`,
		`{"code":"a b","type":"GIFT_VOUCHER","gift":{"amount":1}}`,
		`{"type":"DISCOUNT_VOUCHER","discount":{"type":"PERCENT","percent_off":100.001}}`,
		`{"type":"GIFT_VOUCHER","gift":{"amount":1},"redemption":{"quantity":0}}`,
	})
}

var redemptionSeeds = []string{
	`{"redeemables":[{"object":"voucher","id":"FUZZ-CODE"}],"order":{"amount":10000}}`,
	`{"redeemables":[{"object":"voucher","id":"FUZZ-CODE"}],"order":{"items":[{"product_id":"p","quantity":2,"price":500}]},"customer":{"source_id":"fuzz-anchor"}}`,
	`{"redeemables":[{"object":"voucher","id":"FUZZ-CODE","gift":{"credits":5}}],"order":{"amount":1,"currency":"EUR"},"metadata":{"channel":"pos"}}`,
	`{"redeemables":[{"object":"voucher","id":"NOPE"},{"object":"voucher","id":"FUZZ-CODE"}],"order":{"amount":-1}}`,
	`{"redeemables":[],"order":{}}`,
	`{"redeemables":[{"object":"promotion_tier","id":"x"}]}`,
}

func FuzzValidation(f *testing.F) {
	for _, seed := range redemptionSeeds {
		f.Add([]byte(seed))
	}
	s, tn, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := writes(t, s, tn.ID)
		r := s.do(t, "POST", "/v1/validations", tn.bearer(), body)
		checkAnswer(t, s, tn.ID, before, r)
		if after := writes(t, s, tn.ID); after != before {
			t.Fatalf("a validation wrote rows: %v → %v", before, after)
		}
	})
}

func FuzzRedemption(f *testing.F) {
	for _, seed := range redemptionSeeds {
		f.Add([]byte(seed))
	}
	s, tn, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := writes(t, s, tn.ID)
		redemptions := countRows(t, s, tn.ID, "redemptions")
		r := s.do(t, "POST", "/v1/redemptions", tn.bearer(), body)
		// A refused redemption writes its audit record and nothing else.
		if r.status >= 400 && r.status < 500 {
			before[0] = writes(t, s, tn.ID)[0]
			if n := countRows(t, s, tn.ID, "redemptions"); n != redemptions {
				t.Fatalf("%s refused with %d but wrote redemptions: %s", r.req, r.status, r.body)
			}
		}
		checkAnswer(t, s, tn.ID, before, r)
	})
}

func FuzzPolicyPublish(f *testing.F) {
	fuzzBody(f, "PUT", func(s *server, tn tenant, _ string) (string, headers) { return "/v1/policies/eligibility", tn.bearer() }, []string{
		`{"modules":{"a.rego":"package punchcard.eligibility\n\ndeny contains \"x\" if input.channel == \"pos\"\n"}}`,
		`{"modules":{"a.rego":"package punchcard.eligibility\n"},"data":{"blocked":["c1"]}}`,
		`{"modules":{"a.rego":"package punchcard.fraud\n"}}`,
		`{"modules":{"a.rego":"package punchcard.eligibility\n\ndeny contains x if { x := http.send({}) }\n"}}`,
		`{"modules":{"a.txt":"package punchcard.eligibility\n"}}`,
		`{"modules":{"a.rego":"package punchcard.eligibility\n\ndeny contains x if { x := [[[[[[[[[[[[1]]]]]]]]]]]] }\n"}}`,
		`{"modules":{"a.rego":7},"replace_base":true}`,
		`{"data":[]}`, `{}`,
	})
}
