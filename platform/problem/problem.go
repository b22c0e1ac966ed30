// Package problem defines the domain errors that Punchcard's services return and
// that the HTTP layer renders as Voucherify-shaped error bodies. A service says what
// went wrong (the Kind, a machine-readable key, the offending field or resource);
// platform/httpapi alone decides the status code.
package problem

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the caller.
type Kind int

// The kinds of domain error.
const (
	KindInvalid          Kind = iota + 1 // the request is malformed or breaks a rule about its fields
	KindNotFound                         // the resource does not exist for this tenant
	KindConflict                         // the request collides with the current state
	KindUnauthorized                     // no valid credentials
	KindForbidden                        // credentials valid but not allowed
	KindUnprocessable                    // well-formed but cannot be carried out
	KindTooMany                          // rate limited
	KindTooLarge                         // body over the limit
	KindMethodNotAllowed                 // the route exists, not with this method
)

// Error is a domain error with everything the API response needs.
type Error struct {
	Kind         Kind
	Key          string // machine-readable, e.g. "not_found", "invalid_field"
	Message      string // short human text
	Details      string // longer human text naming the field or resource
	Field        string // offending request field, for KindInvalid
	ResourceType string
	ResourceID   string
	// Errors, when set, lists located problems (a policy's compile errors with
	// file, row and column); the API renders it as the body's "errors".
	Errors any
	// Transient marks an answer that the same request may not get again (a
	// busy row, a policy that ran out of time): an Idempotency-Key does not
	// keep it, so a retry with the key is carried out anew.
	Transient bool
}

func (e *Error) Error() string {
	if e.Details != "" {
		return e.Message + ": " + e.Details
	}
	return e.Message
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var p *Error
	ok := errors.As(err, &p)
	return p, ok
}

// Is reports whether err carries a domain error of the given kind.
func Is(err error, k Kind) bool {
	p, ok := As(err)
	return ok && p.Kind == k
}

// NotFound reports that a resource of the given type and id does not exist. It is
// also what another tenant's resource looks like, byte for byte.
func NotFound(resourceType, id string) *Error {
	return &Error{
		Kind: KindNotFound, Key: "not_found", Message: "Resource not found",
		Details:      fmt.Sprintf("Cannot find %s with id %s", resourceType, id),
		ResourceType: resourceType, ResourceID: id,
	}
}

// Invalid reports a bad field value. details should say what is wrong and name the field.
func Invalid(field, details string) *Error {
	return &Error{
		Kind: KindInvalid, Key: "invalid_payload", Message: "Invalid payload",
		Details: details, Field: field,
	}
}

// Invalidf is Invalid with a formatted message.
func Invalidf(field, format string, args ...any) *Error {
	return Invalid(field, fmt.Sprintf(format, args...))
}

// Conflict reports a collision with existing state under the given key.
func Conflict(key, details string) *Error {
	return &Error{Kind: KindConflict, Key: key, Message: "Conflict", Details: details}
}

// Forbidden reports that the caller may not perform the operation.
func Forbidden(key, details string) *Error {
	return &Error{Kind: KindForbidden, Key: key, Message: "Forbidden", Details: details}
}

// Unauthorized reports missing or wrong credentials.
func Unauthorized(details string) *Error {
	return &Error{Kind: KindUnauthorized, Key: "unauthorized", Message: "Unauthorized", Details: details}
}

// Unprocessable reports a well-formed request that cannot be carried out.
func Unprocessable(key, details string) *Error {
	return &Error{Kind: KindUnprocessable, Key: key, Message: "Unprocessable request", Details: details}
}
