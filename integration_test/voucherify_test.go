package integration_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// voucherifySchemas loads the subset of Voucherify's published v1 OpenAPI
// description that Punchcard's responses must validate against (testdata/voucherify,
// descriptions stripped).
func voucherifySchemas(t *testing.T, file string) openapi3.Schemas {
	t.Helper()
	b, err := os.ReadFile("testdata/voucherify/" + file)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("reference document invalid: %v", err)
	}
	return doc.Components.Schemas
}

// conforms checks a response body against a named Voucherify schema, required fields
// and types included.
func conforms(t *testing.T, schemas openapi3.Schemas, name string, r response) {
	t.Helper()
	ref, ok := schemas[name]
	if !ok {
		t.Fatalf("no schema %s", name)
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%s: not JSON: %v", r.req, err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("%s does not conform to Voucherify's %s: %v\nbody: %s", r.req, name, err, r.body)
	}
}

func TestCustomerResponsesConformToVoucherify(t *testing.T) {
	schemas := voucherifySchemas(t, "customers.json")
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		created := s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{
			"source_id": "vf-1", "name": "Vera", "email": "vera@example.com", "phone": "+48 600 000 000", "birthdate": "1990-04-01",
			"description": "VIP", "address": map[string]any{"city": "Warsaw", "country": "PL", "line_1": "Marszałkowska 1", "postal_code": "00-001"},
			"metadata": map[string]any{"segment": "gold", "score": 7},
		})
		created.wantStatus(t, http.StatusOK)
		conforms(t, schemas, "CustomersCreateResponseBody", created)
		var c struct{ ID string }
		created.decode(t, &c)

		bare := s.do(t, "POST", "/v1/customers", tn.bearer(), map[string]any{"source_id": "vf-bare"})
		bare.wantStatus(t, http.StatusOK)
		conforms(t, schemas, "CustomersCreateResponseBody", bare)

		got := s.do(t, "GET", "/v1/customers/"+c.ID, tn.bearer(), nil)
		got.wantStatus(t, http.StatusOK)
		conforms(t, schemas, "CustomersGetResponseBody", got)

		upd := s.do(t, "PUT", "/v1/customers/"+c.ID, tn.bearer(), map[string]any{"address": nil, "metadata": map[string]any{"segment": "silver"}})
		upd.wantStatus(t, http.StatusOK)
		conforms(t, schemas, "CustomersUpdateResponseBody", upd)

		list := s.do(t, "GET", "/v1/customers?limit=10", tn.bearer(), nil)
		list.wantStatus(t, http.StatusOK)
		conforms(t, schemas, "CustomersListResponseBody", list)

		missing := s.do(t, "GET", "/v1/customers/cust_missing", tn.bearer(), nil)
		missing.wantStatus(t, http.StatusNotFound)
		conforms(t, schemas, "Error", missing)

		del := s.do(t, "POST", "/v1/customers/"+c.ID+"/permanent-deletion", tn.bearer(), nil)
		del.wantStatus(t, http.StatusOK)
		conforms(t, schemas, "CustomersPermanentDeletionCreateResponseBody", del)
	})
}
