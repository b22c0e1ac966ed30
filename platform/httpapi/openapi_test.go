package httpapi

import (
	"encoding/json"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	return New(testDeps())
}

// testDeps are the dependencies of a server that reaches no database: routes
// that need one are not called.
func testDeps() Deps {
	return Deps{Logger: slog.New(slog.DiscardHandler), TracerProvider: noop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider(), Propagator: propagation.TraceContext{}}
}

func TestOpenAPIDocumentsEveryServedRoute(t *testing.T) {
	s := newTestServer(t)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(s.openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	served := s.engine.Routes()
	if len(served) != len(s.routes) {
		t.Fatalf("engine serves %d routes, table has %d", len(served), len(s.routes))
	}
	for _, r := range served {
		op, ok := doc.Paths[openAPIPath(r.Path)][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is served but missing from /openapi.json", r.Method, r.Path)
			continue
		}
		if op["summary"] == "" || op["operationId"] == "" || op["responses"] == nil {
			t.Errorf("%s %s is documented without summary, operationId or responses", r.Method, r.Path)
		}
	}
	// Every reference resolves.
	refs := regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`).FindAllStringSubmatch(string(s.openAPIDoc), -1)
	if len(refs) == 0 {
		t.Fatal("no schema references: request and response bodies are not described")
	}
	for _, m := range refs {
		if _, ok := doc.Components.Schemas[m[1]]; !ok {
			t.Errorf("dangling reference to schema %s", m[1])
		}
	}
}

func TestOperationIDsAreUnique(t *testing.T) {
	seen := map[string]string{}
	for _, r := range newTestServer(t).routes {
		id := operationID(r.method, r.path)
		if prev, ok := seen[id]; ok {
			t.Errorf("operationId %s used by %s and %s %s", id, prev, r.method, r.path)
		}
		seen[id] = r.method + " " + r.path
	}
}

func TestSchemaNamesNeverCollide(t *testing.T) {
	type Address struct{ City string }
	n := schemaNames{}
	a := n.of(reflect.TypeOf(Address{}))
	b := n.of(reflect.TypeOf(customers.Address{}))
	if a == b {
		t.Fatalf("two types named Address share the schema name %q", a)
	}
	if again := n.of(reflect.TypeOf(Address{})); again != a {
		t.Fatalf("a type's name changed from %q to %q", a, again)
	}
}
