package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// ErrorBody is the error response, Voucherify's error object plus the request id.
type ErrorBody struct {
	Code         int    `json:"code"`
	Key          string `json:"key"`
	Message      string `json:"message"`
	Details      string `json:"details,omitempty"`
	RequestID    string `json:"request_id"`
	ResourceID   string `json:"resource_id,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
	Errors       any    `json:"errors,omitempty"` // located problems, e.g. a policy's compile errors
}

// status maps a domain error kind to its HTTP status. It is the one place that does.
func status(k problem.Kind) int {
	switch k {
	case problem.KindInvalid, problem.KindTooLarge:
		return http.StatusBadRequest
	case problem.KindNotFound:
		return http.StatusNotFound
	case problem.KindConflict:
		return http.StatusConflict
	case problem.KindUnauthorized:
		return http.StatusUnauthorized
	case problem.KindForbidden:
		return http.StatusForbidden
	case problem.KindUnprocessable:
		return http.StatusUnprocessableEntity
	case problem.KindTooMany:
		return http.StatusTooManyRequests
	case problem.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the body that answers p.
func (s *Server) errorBody(c *gin.Context, p *problem.Error) ErrorBody {
	code := status(p.Kind)
	return ErrorBody{
		Code: code, Key: p.Key, Message: p.Message, Details: p.Details,
		RequestID: telemetry.RequestID(c.Request.Context()), ResourceID: p.ResourceID, ResourceType: p.ResourceType,
		Errors: p.Errors,
	}
}

// renderError writes err as the error body. Errors that are not domain errors are
// logged with the request and answered with an opaque 500.
func (s *Server) renderError(c *gin.Context, err error) {
	ctx := c.Request.Context()
	p, ok := problem.As(err)
	if !ok {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			s.logger.InfoContext(ctx, "request canceled by client", "path", c.FullPath())
			c.AbortWithStatus(499)
			return
		}
		s.logger.ErrorContext(ctx, "request failed", "path", c.FullPath(), "method", c.Request.Method, "error", err)
		p = &problem.Error{Key: "internal_error", Message: "Internal server error",
			Details: "Punchcard could not complete the request; quote the request id when reporting it"}
	}
	body := s.errorBody(c, p)
	c.AbortWithStatusJSON(body.Code, body)
}

// decodeJSON reads the request body into v, turning every way a body can be wrong
// into a 400 that names the field. Unknown fields are ignored, as Voucherify's SDKs
// send fields that Punchcard may not use.
func decodeJSON(c *gin.Context, v any) error { return decodeBody(c, v, false) }

// decodeStrictJSON is decodeJSON refusing fields v does not have, for
// Punchcard's own resources whose every field is a setting: a misspelt one must
// not leave its setting at the default silently.
func decodeStrictJSON(c *gin.Context, v any) error { return decodeBody(c, v, true) }

func decodeBody(c *gin.Context, v any, strict bool) error {
	if c.Request.Body == nil || c.Request.ContentLength == 0 {
		return problem.Invalid("body", "request body is required (a JSON object)")
	}
	body, err := io.ReadAll(c.Request.Body) // bounded by the body limit
	if err != nil {
		return jsonError(err)
	}
	err = decodeBytes(body, v, strict)
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && strings.HasPrefix(typ.Value, "number") && intKind(typ.Type) {
		// A whole number written with a fraction (1000.0, as decimal types
		// serialise) is the integer it equals; a fraction still is refused.
		if whole, ok := wholeNumbers(body); ok {
			err = decodeBytes(whole, v, strict)
		}
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		// time.Time does not know its field: it is where the body holds the
		// value that did not parse.
		field := cmp.Or(pathOf(body, pe.Value), "body")
		return problem.Invalidf(field, "%s: expected an RFC 3339 date-time such as 2026-12-03T10:00:00Z, got %q", field, pe.Value)
	}
	if err != nil {
		return jsonError(err)
	}
	return nil
}

// decodeBytes decodes body, one JSON value, into v. Its errors are the
// decoder's, for decodeBody to read.
func decodeBytes(body []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return problem.Invalid("body", "request body must hold exactly one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF && err != nil {
		return err
	}
	return nil
}

// intKind reports whether t, the type a JSON value failed to decode into, is
// an integer.
func intKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// wholeNumbers is body with every number that equals an integer (1000.0, 1e3)
// written as that integer, and whether any was.
func wholeNumbers(body []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return nil, false
	}
	changed := false
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case json.Number:
			if strings.ContainsAny(string(v), ".eE") {
				if r, ok := new(big.Rat).SetString(string(v)); ok && r.IsInt() && r.Num().IsInt64() {
					changed = true
					return json.Number(strconv.FormatInt(r.Num().Int64(), 10))
				}
			}
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			for k := range v {
				v[k] = walk(v[k])
			}
		}
		return v
	}
	doc = walk(doc)
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(doc)
	return out, err == nil
}

// pathOf is the path (a.b[2].c) of the first string in the JSON body equal to
// value, or "".
func pathOf(body []byte, value string) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	var walk func(v any, path string) (string, bool)
	walk = func(v any, path string) (string, bool) {
		switch v := v.(type) {
		case string:
			return path, v == value
		case []any:
			for i, e := range v {
				if p, ok := walk(e, fmt.Sprintf("%s[%d]", path, i)); ok {
					return p, true
				}
			}
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if p, ok := walk(v[k], p); ok {
					return p, true
				}
			}
		}
		return "", false
	}
	p, _ := walk(doc, "")
	return p
}

func jsonError(err error) error {
	var (
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
		maxErr *http.MaxBytesError
		valErr *fieldError
		pErr   *problem.Error
	)
	switch {
	case errors.As(err, &maxErr):
		return &problem.Error{Kind: problem.KindTooLarge, Key: "request_too_large", Message: "Request too large",
			Details: fmt.Sprintf("body: request body exceeds the limit of %d bytes", maxErr.Limit), Field: "body"}
	case errors.As(err, &syn):
		return problem.Invalidf("body", "body: malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return problem.Invalidf(field, "%s: expected %s, got JSON %s", field, expected(typ.Type), typ.Value)
	case errors.As(err, &valErr):
		return problem.Invalid(valErr.field, valErr.field+": "+valErr.msg)
	case errors.As(err, &pErr):
		return pErr
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return problem.Invalidf(field, "%s: no such field", field)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problem.Invalid("body", "body: malformed JSON: unexpected end of input")
	default:
		return problem.Invalidf("body", "body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// fieldError lets custom UnmarshalJSON methods name their field.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// jsonDescriber is implemented by types that decode themselves, to say in a 400
// what JSON they take (campaigns.Percent: a number with at most two decimals).
type jsonDescriber interface{ JSONDescription() string }

// expected names the JSON a Go type takes.
func expected(t reflect.Type) string {
	if d, ok := reflect.Zero(t).Interface().(jsonDescriber); ok {
		return d.JSONDescription()
	}
	return typeName(t.String())
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"), strings.Contains(goType, "."):
		return "object"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "integer"
	case strings.HasPrefix(goType, "float"):
		return "number"
	case goType == "bool":
		return "boolean"
	case goType == "string":
		return "string"
	default:
		return goType
	}
}
