package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"reflect"
	"regexp"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"
	"github.com/invopop/jsonschema"

	"github.com/punchcard-loyalty/punchcard/platform/buildinfo"
)

var pathParam = regexp.MustCompile(`:([a-z_]+)`)

// openAPIPath turns gin's /v1/customers/:id into /v1/customers/{id}.
func openAPIPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

// buildOpenAPI generates the OpenAPI 3.1 document from the route table, with JSON
// schemas reflected from the request and response types, so the document cannot
// drift from what is served.
func buildOpenAPI(routes []route) ([]byte, error) {
	names := schemaNames{}
	ref := &jsonschema.Reflector{
		AllowAdditionalProperties: true,
		Namer:                     func(t reflect.Type) string { return names.of(t) },
	}
	schemas := map[string]any{}
	schemaRef := func(v any) (map[string]any, error) {
		s := ref.Reflect(v)
		for name, def := range s.Definitions {
			schemas[name] = def
		}
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		delete(m, "$defs")
		delete(m, "$schema")
		delete(m, "$id")
		return m, nil
	}
	errRef, err := schemaRef(ErrorBody{})
	if err != nil {
		return nil, err
	}
	errorResponse := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
	}

	paths := map[string]map[string]any{}
	for _, r := range routes {
		d := r.doc
		op := map[string]any{
			"operationId": operationID(r.method, r.path),
			"summary":     d.summary,
			"tags":        []string{d.tag},
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range d.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.description, "schema": map[string]any{"type": q.typ}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if d.request != nil {
			s, err := schemaRef(d.request)
			if err != nil {
				return nil, err
			}
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": s}}}
		}
		code := d.status
		if code == 0 {
			code = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(code)}
		switch {
		case d.text:
			ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		case d.response != nil:
			s, err := schemaRef(d.response)
			if err != nil {
				return nil, err
			}
			mt := "application/json"
			if d.ndjson {
				mt = "application/x-ndjson"
			}
			ok["content"] = map[string]any{mt: map[string]any{"schema": s}}
		}
		responses := map[string]any{fmt.Sprint(code): ok}
		switch r.auth {
		case authTenant:
			op["security"] = []any{map[string]any{"bearerAuth": []string{}}, map[string]any{"appId": []string{}, "appToken": []string{}}}
			responses["401"] = errorResponse("Missing or invalid API key")
			responses["403"] = errorResponse("The key's role may not call this operation, or the tenant is suspended")
			responses["429"] = errorResponse("Rate limited; see Retry-After")
		case authOperator:
			op["security"] = []any{map[string]any{"operatorToken": []string{}}}
			responses["401"] = errorResponse("Missing or invalid operator token")
		}
		if d.request != nil || len(d.query) > 0 {
			responses["400"] = errorResponse("Invalid request; details names the field")
		}
		if strings.Contains(r.path, ":") {
			responses["404"] = errorResponse("Not found (also another tenant's object)")
		}
		responses["500"] = errorResponse("Internal error; quote request_id")
		op["responses"] = responses
		p := openAPIPath(r.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.method)] = op
	}

	docMap := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Punchcard API",
			"version": buildinfo.String(),
			"description": "Punchcard, the multi-tenant loyalty and promotions engine. The promotion and loyalty " +
				"core follows Voucherify's v1 shapes; tenants, policies, plugins, audit and reports are Punchcard's own.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearerAuth":    map[string]any{"type": "http", "scheme": "bearer", "description": "A tenant API key secret (sk_…)"},
				"appId":         map[string]any{"type": "apiKey", "in": "header", "name": "X-App-Id", "description": "The API key id (key_…)"},
				"appToken":      map[string]any{"type": "apiKey", "in": "header", "name": "X-App-Token", "description": "The API key secret (sk_…)"},
				"operatorToken": map[string]any{"type": "http", "scheme": "bearer", "description": "The operator token (PUNCHCARD_OPERATOR_TOKEN)"},
			},
		},
	}
	b, err := json.Marshal(docMap)
	if err != nil {
		return nil, err
	}
	return []byte(strings.ReplaceAll(string(b), "#/$defs/", "#/components/schemas/")), nil
}

func operationID(method, path string) string {
	parts := []string{strings.ToLower(method)}
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		seg = strings.TrimPrefix(seg, ":")
		seg = strings.NewReplacer("-", "_", ".", "_").Replace(seg)
		if seg != "" {
			parts = append(parts, seg)
		}
	}
	return strings.Join(parts, "_")
}

func (s *Server) openAPI(c *gin.Context) error {
	c.Data(http.StatusOK, "application/json", s.openAPIDoc)
	return nil
}

// schemaNames names component schemas after their Go types; when two packages both
// have a type of one name, the later one is prefixed with its package's name, so
// one schema never silently replaces another.
type schemaNames map[string]reflect.Type

func (n schemaNames) of(t reflect.Type) string {
	name := upperFirst(t.Name())
	if prev, ok := n[name]; ok && prev != t {
		name = upperFirst(path.Base(t.PkgPath())) + name
	}
	n[name] = t
	return name
}

func upperFirst(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}
